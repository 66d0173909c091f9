#!/usr/bin/python3
"""Autobahn|Python authentication peer for Crosswire's integration tests.

    /usr/bin/python3 test/interop/python_auth.py <url> <json|msgpack> <method> <authid> <secret>

Joins realm1 with Autobahn|Python's own authenticator for <method> (scram: <secret> is the
password; wampcra: the secret or password; cryptosign: the private key seed in hex) and prints
one JSON line: {"joined": true, "authid", "authrole", "authmethod", "authextra"} after WELCOME
(the authenticator's on_welcome has checked it, e.g. SCRAM's server signature), or
{"joined": false, "reason", "message"} after ABORT. Exit 0 in both cases; 1 on a failure of the
script itself or no outcome within TIMEOUT seconds; 3 for missing packages (python3-autobahn,
python3-argon2 for scram, python3-nacl for cryptosign).
"""

import json
import os
import sys

os.environ.pop('AUTOBAHN_USE_UJSON', None)

import asyncio  # noqa: E402

TIMEOUT = 10.0

try:
    import msgpack  # noqa: F401,E402
    import txaio  # noqa: E402
    txaio.use_asyncio()
    from autobahn.asyncio.wamp import Session  # noqa: E402
    from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
    from autobahn.wamp.auth import create_authenticator  # noqa: E402
    from autobahn.wamp.serializer import JsonSerializer, MsgPackSerializer  # noqa: E402
    from autobahn.wamp.types import ComponentConfig  # noqa: E402
    from autobahn.websocket.util import parse_url  # noqa: E402
except ImportError as e:
    print(f'python_auth.py: cannot import Autobahn|Python with {sys.executable}: {e}', file=sys.stderr)
    sys.exit(3)


class AuthSession(Session):
    def __init__(self, config, done):
        super().__init__(config)
        self.done = done

    def on_join(self, details):
        if not self.done.done():
            self.done.set_result({'joined': True, 'authid': details.authid, 'authrole': details.authrole,
                                  'authmethod': details.authmethod, 'authextra': details.authextra})
        self.leave()

    def onLeave(self, details):
        if not self.done.done():
            self.done.set_result({'joined': False, 'reason': details.reason, 'message': details.message})
        super().onLeave(details)

    def onDisconnect(self):
        if not self.done.done():
            self.done.set_result({'joined': False, 'reason': 'disconnected', 'message': None})


async def run(url, serializer, method, authid, secret):
    loop = asyncio.get_running_loop()
    txaio.config.loop = loop
    done = loop.create_future()
    if method == 'cryptosign':
        auth = create_authenticator(method, authid=authid, privkey=secret)
    elif method == 'scram':
        auth = create_authenticator(method, authid=authid, password=secret)
    else:
        auth = create_authenticator(method, authid=authid, secret=secret)

    def make_session():
        s = AuthSession(ComponentConfig(realm='realm1'), done)
        s.add_authenticator(auth)
        return s

    _secure, host, port, _r, _p, _q = parse_url(url)
    factory = WampWebSocketClientFactory(make_session, url=url, serializers=[serializer], loop=loop)
    transport, _protocol = await loop.create_connection(factory, host, port)
    try:
        return await done
    finally:
        transport.close()


def main(argv):
    if len(argv) != 6 or argv[2] not in ('json', 'msgpack'):
        print(f'usage: {argv[0]} <ws-url> <json|msgpack> <method> <authid> <secret>', file=sys.stderr)
        return 2
    url, ser, method, authid, secret = argv[1:]
    txaio.start_logging(level='critical', out=sys.stderr)
    serializer = JsonSerializer() if ser == 'json' else MsgPackSerializer()
    try:
        outcome = asyncio.run(asyncio.wait_for(run(url, serializer, method, authid, secret), TIMEOUT))
    except Exception as e:  # noqa: BLE001
        print(f'python_auth.py: FAILED: {type(e).__name__}: {e}', file=sys.stderr, flush=True)
        return 1
    print(json.dumps(outcome, default=str), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
