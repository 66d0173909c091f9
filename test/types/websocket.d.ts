// The one export of the `websocket` package the tests use: its W3C WebSocket class, which wampy
// takes as its `ws` option in Node.js (wampy's README).
declare module 'websocket' {
  export const w3cwebsocket: new (url: string, protocols?: string | string[]) => unknown;
  const websocket: { w3cwebsocket: typeof w3cwebsocket };
  export default websocket;
}
