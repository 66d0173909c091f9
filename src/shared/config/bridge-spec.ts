/** The HTTP bridge services as the realm worker sees them (built from a `web` transport by src/config/bridge.ts). */

export interface SubscriberSpec {
  topic: string;
  url: string;
  match: 'exact' | 'prefix' | 'wildcard';
}

/** What the realm worker needs of a bridge service (WorkerStartup.bridges). */
export type BridgeSpec =
  | { kind: 'publisher' | 'caller' | 'webhook'; key: string; realm: string; role: string; callTimeout: number; topic: string; successResponse: string; errorResponse: string }
  | { kind: 'subscriber'; key: string; realm: string; role: string; subscriptions: SubscriberSpec[]; method: string; expectedCode: number | null; debug: boolean; concurrency: number; queueLimit: number; retries: number; timeout: number };
