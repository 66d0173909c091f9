#!/usr/bin/python3
"""Autobahn|Python RawSocket peer for Crosswire's integration tests (Twisted).

    /usr/bin/python3 test/interop/python_rawsocket.py <tcp:HOST:PORT | unix:PATH> <json|msgpack> <role>

It joins realm1 over WAMP-over-RawSocket with Autobahn|Python's Twisted client
(autobahn.twisted.rawsocket.WampRawSocketClientFactory: the asyncio one in
Debian's 22.7 is broken) and plays one role; test/integration/rawsocket-python.test.ts
drives the other side with an AutobahnJS WebSocket client.

callee-subscriber
    registers com.rs.echo (returns its args and kwargs), subscribes to
    com.rs.to_python; on the first event there publishes com.rs.from_python with the
    same args (acknowledge=True). Prints "READY" once registered and subscribed and
    exits 0 after it has echoed one event.

caller-publisher
    calls com.rs.js_echo with [b"\\x00\\x01\\xfe\\xff", 2**40, "text"] and checks the
    result is exactly that; publishes com.rs.from_python_2 with [b"\\x10\\x20"]
    (acknowledge=True); prints "OK" and exits 0.

Any failure or a lost connection: a message on stderr and exit 1; not finishing within
TIMEOUT seconds: exit 1.
"""

import os
import sys

os.environ.pop('AUTOBAHN_USE_UJSON', None)

TIMEOUT = 10.0
ROLES = ('callee-subscriber', 'caller-publisher')

try:
    import msgpack  # noqa: F401
    import txaio
    txaio.use_twisted()
    from twisted.internet import reactor
    from twisted.internet.defer import inlineCallbacks
    from twisted.internet.endpoints import TCP4ClientEndpoint, UNIXClientEndpoint
    from autobahn.twisted.wamp import ApplicationSession
    from autobahn.twisted.rawsocket import WampRawSocketClientFactory
    from autobahn.wamp.serializer import JsonSerializer, MsgPackSerializer
    from autobahn.wamp.types import CallResult, ComponentConfig, PublishOptions
except ImportError as e:
    print(f'python_rawsocket.py: cannot import Autobahn|Python/Twisted with {sys.executable}: {e}', file=sys.stderr)
    sys.exit(3)

status = {'code': 1, 'done': False}


def finish(code, why=''):
    """The first outcome counts: exit code 0, or 1 with `why` on stderr."""
    if status['done']:
        return
    status['done'] = True
    status['code'] = code
    if code != 0:
        print(f'python_rawsocket.py: {why}', file=sys.stderr)
    if reactor.running:
        reactor.stop()


class Peer(ApplicationSession):
    role = None

    @inlineCallbacks
    def onJoin(self, details):
        try:
            if self.role == 'callee-subscriber':
                yield self.register(lambda *a, **kw: CallResult(*a, **kw), 'com.rs.echo')

                @inlineCallbacks
                def on_event(*args):
                    yield self.publish('com.rs.from_python', *args, options=PublishOptions(acknowledge=True))
                    self.leave()
                yield self.subscribe(on_event, 'com.rs.to_python')
                print('READY', flush=True)
            else:
                args = [b'\x00\x01\xfe\xff', 2**40, 'text']
                res = yield self.call('com.rs.js_echo', *args)
                got = list(res.results) if isinstance(res, CallResult) else [res]
                if got != args or type(got[1]) is not int or type(got[0]) is not bytes:
                    raise Exception(f'com.rs.js_echo returned {got!r}, expected {args!r}')
                yield self.publish('com.rs.from_python_2', b'\x10\x20', options=PublishOptions(acknowledge=True))
                print('OK', flush=True)
                self.leave()
        except Exception as e:
            finish(1, f'{self.role}: {e!r}')

    def onLeave(self, details):
        self.disconnect()

    def onDisconnect(self):
        # A clean run leaves the realm itself; anything else is a lost connection.
        finish(0 if getattr(self, 'left_on_purpose', False) else 1, 'connection lost')

    def leave(self, *a, **kw):
        self.left_on_purpose = True
        return super().leave(*a, **kw)


def main():
    if len(sys.argv) != 4 or sys.argv[2] not in ('json', 'msgpack') or sys.argv[3] not in ROLES:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    target, ser, role = sys.argv[1:]
    Peer.role = role
    serializer = JsonSerializer() if ser == 'json' else MsgPackSerializer()
    factory = WampRawSocketClientFactory(lambda: Peer(ComponentConfig('realm1')), serializer=serializer)
    if target.startswith('unix:'):
        endpoint = UNIXClientEndpoint(reactor, target[5:])
    else:
        _, host, port = target.split(':')
        endpoint = TCP4ClientEndpoint(reactor, host, int(port))
    d = endpoint.connect(factory)
    d.addErrback(lambda f: finish(1, f'cannot connect: {f.getErrorMessage()}'))
    reactor.callLater(TIMEOUT, lambda: finish(1, f'timed out after {TIMEOUT} s'))
    reactor.run()
    sys.exit(status['code'])


if __name__ == '__main__':
    main()
