// Minimal types for the parts of autobahn (AutobahnJS 22) the tests use.
declare module 'autobahn' {
  export interface SubscriptionHandle {
    id: number;
    topic: string;
  }
  export interface RegistrationHandle {
    id: number;
    procedure: string;
  }
  export interface EventDetails {
    publication: number;
    publisher?: number;
    publisher_authid?: string;
    publisher_authrole?: string;
    topic?: string;
  }
  export interface InvocationDetails {
    caller?: number;
    caller_authid?: string;
    caller_authrole?: string;
    procedure?: string;
  }
  export class Result {
    constructor(args?: unknown[], kwargs?: Record<string, unknown>);
    args: unknown[];
    kwargs: Record<string, unknown>;
  }
  export class Error {
    constructor(error: string, args?: unknown[], kwargs?: Record<string, unknown>);
    error: string;
    args: unknown[];
    kwargs: Record<string, unknown>;
  }
  export class Session {
    id: number;
    isOpen: boolean;
    features: Record<string, unknown>;
    publish(topic: string, args?: unknown[], kwargs?: Record<string, unknown>, options?: Record<string, unknown>): Promise<{ id: number } | undefined>;
    subscribe(
      topic: string,
      handler: (args: unknown[], kwargs: Record<string, unknown>, details: EventDetails) => void,
      options?: Record<string, unknown>,
    ): Promise<SubscriptionHandle>;
    unsubscribe(s: SubscriptionHandle): Promise<unknown>;
    register(
      procedure: string,
      endpoint: (args: unknown[], kwargs: Record<string, unknown>, details: InvocationDetails) => unknown,
      options?: Record<string, unknown>,
    ): Promise<RegistrationHandle>;
    unregister(r: RegistrationHandle): Promise<unknown>;
    call(procedure: string, args?: unknown[], kwargs?: Record<string, unknown>, options?: Record<string, unknown>): Promise<unknown>;
    leave(reason?: string, message?: string): void;
  }
  export interface ConnectionOptions {
    url: string;
    realm: string;
    serializers?: unknown[];
    protocols?: string[];
    max_retries?: number;
    retry_if_unreachable?: boolean;
    /** Seconds before the first reconnect attempt. */
    initial_retry_delay?: number;
    retry_delay_jitter?: number;
    authid?: string;
    authmethods?: string[];
    authextra?: Record<string, unknown>;
    onchallenge?: (session: Session, method: string, extra: Record<string, unknown>) => string | [string, Record<string, unknown>] | Promise<string>;
    use_es6_promises?: boolean;
    /** Called for errors thrown by the application's handlers (default: console.error). */
    on_user_error?: (error: unknown, message: string) => void;
    /** Called for AutobahnJS's own errors, e.g. a protocol violation it saw (default: console.error). */
    on_internal_error?: (error: unknown, message?: string) => void;
  }
  export class Connection {
    constructor(options: ConnectionOptions);
    onopen: (session: Session, details: Record<string, unknown>) => void;
    onclose: (reason: string, details: Record<string, unknown>) => boolean | undefined;
    open(): void;
    close(reason?: string, message?: string): void;
    session: Session | null;
    isOpen: boolean;
  }
  export const serializer: {
    JSONSerializer: new () => unknown;
    MsgpackSerializer: new () => unknown;
  };
  export const auth_cra: {
    sign(key: string, challenge: string): string;
    derive_key(secret: string, salt: string, iterations?: number, keylen?: number): string;
  };
  export const auth_cryptosign: {
    sign_challenge(pkey: { publicKey: Uint8Array; secretKey: Uint8Array }, extra: Record<string, unknown>): string;
  };
  const autobahn: {
    auth_cra: typeof auth_cra;
    auth_cryptosign: typeof auth_cryptosign;
    Connection: typeof Connection;
    Error: typeof Error;
    Result: typeof Result;
    serializer: typeof serializer;
  };
  export default autobahn;
}
