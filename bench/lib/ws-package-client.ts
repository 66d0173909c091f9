/**
 * The same client surface as WsClient, on the `ws` package (perMessageDeflate off). Only for
 * `--client ws`, which shows with data why the harness uses its own client (docs/performance.md).
 */
import WebSocket from 'ws';
import type { WsOptions } from './ws-client.js';

export class WsPackageClient {
  onMessage: (data: Buffer, start: number, end: number, binary: boolean) => void = () => {};
  onClose: (code: number, reason: string) => void = () => {};
  closed = false;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, 0, data.length, isBinary));
    ws.on('close', (code, reason) => {
      this.closed = true;
      this.onClose(code, reason.toString());
    });
    ws.on('error', () => {});
  }

  static connect(o: WsOptions): Promise<WsPackageClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${o.host}:${o.port}${o.path ?? '/ws'}`, [o.protocol], {
        perMessageDeflate: false,
        localAddress: o.localAddress,
        handshakeTimeout: o.timeoutMs ?? 10000,
      });
      ws.once('open', () => resolve(new WsPackageClient(ws)));
      ws.once('error', reject);
    });
  }

  send(payload: Uint8Array | string, binary: boolean): void {
    this.ws.send(payload, { binary });
  }

  close(code = 1000): void {
    this.ws.close(code);
  }

  destroy(): void {
    this.ws.terminate();
  }
}
