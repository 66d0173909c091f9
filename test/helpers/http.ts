/**
 * Node's fetch, asking the server to close the connection after the response: otherwise
 * fetch's pool keeps the socket for its 4 s keep-alive and the test process waits for it.
 */
export function get(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, headers: { connection: 'close', ...(init.headers as Record<string, string> | undefined) } });
}
