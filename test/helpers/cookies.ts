// Raw WAMP peers that present a cookie (cbtid), for the cookie store tests.
import type { IncomingMessage } from 'node:http';
import { RawPeer } from './raw.js';
import { until } from './nats.js';
import { within } from './wait.js';

/** A raw JSON peer presenting `cookie` if given; the cookie id it is tracked with. */
export async function open(url: string, cookie?: string): Promise<{ peer: RawPeer; cbtid: string | null }> {
  const peer = new RawPeer(url, 'json', cookie === undefined ? {} : { headers: { Cookie: `cbtid=${cookie}` } });
  const upgrade = new Promise<IncomingMessage>((resolve) => peer.ws.once('upgrade', resolve));
  await within(peer.opened, 5000, 'the WebSocket to open');
  const m = /^cbtid=([^;]+);/.exec((await upgrade).headers['set-cookie']?.[0] ?? '');
  return { peer, cbtid: m?.[1] ?? cookie ?? null };
}

export async function hello(url: string, cookie: string, authmethods: string[]): Promise<{ peer: RawPeer; reply: unknown[]; setCookie: boolean }> {
  const { peer, cbtid } = await open(url, cookie);
  peer.send([1, 'realm1', { roles: { caller: {} }, authmethods, authid: 'alice' }]);
  return { peer, reply: await peer.nextOf([2, 3, 4]), setCookie: cbtid !== cookie };
}

export async function close(peer: RawPeer): Promise<void> {
  peer.ws.close();
  await within(peer.closed, 5000, 'close');
}

/** Logs `alice` in by ticket on `url`, tracked by a new cookie; returns the cookie id. */
export async function ticketLogin(url: string, ticket: string): Promise<string> {
  const { peer, cbtid } = await open(url);
  peer.send([1, 'realm1', { roles: { caller: {} }, authmethods: ['ticket'], authid: 'alice' }]);
  if ((await peer.next(4))[1] !== 'ticket') throw new Error('no ticket challenge');
  peer.send([5, ticket, {}]);
  const reply = await peer.nextOf([2, 3]);
  if (reply[0] !== 2) throw new Error(`ticket login refused: ${JSON.stringify(reply)}`);
  await close(peer);
  if (cbtid === null) throw new Error('no cookie set');
  return cbtid;
}

/** Waits (bounded retries) until `url` admits cookie `cbtid` without setting a new one; returns its WELCOME. */
export async function admitted(url: string, cbtid: string, what: string): Promise<unknown[]> {
  let last: unknown[] = [];
  await until(async () => {
    const h = await hello(url, cbtid, ['cookie']);
    last = h.reply;
    await close(h.peer);
    return h.reply[0] === 2 && !h.setCookie;
  }, what).catch((e) => {
    throw new Error(`${String(e)}: last ${JSON.stringify(last)}`);
  });
  return last;
}
