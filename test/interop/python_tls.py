#!/usr/bin/python3
"""Autobahn|Python over TLS with a client certificate, for Crosswire's integration tests.

    /usr/bin/python3 test/interop/python_tls.py <wss-url> <asyncio|twisted> <method> <ca> <cert> <key> [seed]

Joins realm1 over wss with the client certificate <cert>/<key> ("-" for none), trusting <ca>.
<method>: "tls" (authmethods ["tls"], no authenticator: the certificate is the credential) or
"cryptosign" (AuthCryptoSign with the private key seed <seed> in hex and
authextra.channel_binding "tls-unique": Autobahn|Python computes the channel id from its TLS
connection, with asyncio from Python's ssl module, with Twisted from pyOpenSSL).
Prints one JSON line: {"joined": true, "authid", "authrole", "authmethod"} after WELCOME, or
{"joined": false, "reason", "message"} after ABORT or a failed connection. Exit 0 in both cases;
1 on a failure of the script itself or no outcome within TIMEOUT seconds; 3 for missing packages.
"""

import json
import os
import sys

os.environ.pop('AUTOBAHN_USE_UJSON', None)

TIMEOUT = 10.0


def outcome_of_join(details):
    return {'joined': True, 'authid': details.authid, 'authrole': details.authrole, 'authmethod': details.authmethod}


def authenticator(method, seed):
    from autobahn.wamp.auth import create_authenticator
    if method == 'cryptosign':
        return create_authenticator('cryptosign', privkey=seed, authextra={'channel_binding': 'tls-unique'})
    return None


def run_asyncio(url, method, ca, cert, key, seed):
    import asyncio
    import ssl
    import txaio
    txaio.use_asyncio()
    txaio.start_logging(level='critical', out=sys.stderr)
    from autobahn.asyncio.wamp import Session
    from autobahn.asyncio.websocket import WampWebSocketClientFactory
    from autobahn.wamp.types import ComponentConfig
    from autobahn.websocket.util import parse_url

    async def main():
        loop = asyncio.get_running_loop()
        txaio.config.loop = loop
        done = loop.create_future()

        class S(Session):
            def onConnect(self):
                if method == 'tls':
                    self.join('realm1', authmethods=['tls'])
                else:
                    super().onConnect()

            def on_join(self, details):
                if not done.done():
                    done.set_result(outcome_of_join(details))
                self.leave()

            def onLeave(self, details):
                if not done.done():
                    done.set_result({'joined': False, 'reason': details.reason, 'message': details.message})
                super().onLeave(details)

            def onDisconnect(self):
                if not done.done():
                    done.set_result({'joined': False, 'reason': 'disconnected', 'message': None})

        def make():
            s = S(ComponentConfig(realm='realm1'))
            a = authenticator(method, seed)
            if a is not None:
                s.add_authenticator(a)
            return s

        ctx = ssl.create_default_context(cafile=ca)
        if cert != '-':
            ctx.load_cert_chain(cert, key)
        _secure, host, port, _r, _p, _q = parse_url(url)
        factory = WampWebSocketClientFactory(make, url=url)

        class Protocol(factory.protocol):
            # A connection lost before any session (the TLS alert of a refused handshake) is an outcome too.
            def connection_lost(self, exc):
                if not done.done():
                    done.set_result({'joined': False, 'reason': 'connection lost', 'message': str(exc)})
                super().connection_lost(exc)

        factory.protocol = Protocol
        try:
            transport, _protocol = await loop.create_connection(factory, host, port, ssl=ctx, server_hostname='localhost')
        except (ssl.SSLError, ConnectionError) as e:
            return {'joined': False, 'reason': 'tls', 'message': str(e)}
        try:
            return await done
        finally:
            transport.close()

    return asyncio.run(asyncio.wait_for(main(), TIMEOUT))


def run_twisted(url, method, ca, cert, key, seed):
    import txaio
    txaio.use_twisted()
    txaio.start_logging(level='critical', out=sys.stderr)
    from twisted.internet import reactor, ssl
    from autobahn.twisted.wamp import ApplicationSession
    from autobahn.twisted.websocket import WampWebSocketClientFactory, connectWS
    from autobahn.wamp.types import ComponentConfig

    result = {}

    def finish(o):
        if not result:
            result.update(o)
            reactor.callLater(0, reactor.stop)

    class S(ApplicationSession):
        def onConnect(self):
            if method == 'tls':
                self.join('realm1', authmethods=['tls'])
            else:
                a = authenticator(method, seed)
                self.join('realm1', authmethods=['cryptosign'], authextra=a.authextra)
                self._cs = a

        def onChallenge(self, challenge):
            return self._cs.on_challenge(self, challenge)

        def onJoin(self, details):
            finish(outcome_of_join(details))
            self.leave()

        def onLeave(self, details):
            finish({'joined': False, 'reason': details.reason, 'message': details.message})
            self.disconnect()

        def onDisconnect(self):
            finish({'joined': False, 'reason': 'disconnected', 'message': None})

    with open(ca, 'rb') as f:
        trust = ssl.Certificate.loadPEM(f.read())
    client_cert = None
    if cert != '-':
        with open(cert, 'rb') as c, open(key, 'rb') as k:
            client_cert = ssl.PrivateCertificate.loadPEM(c.read() + k.read())
    options = ssl.optionsForClientTLS('localhost', trustRoot=trust, clientCertificate=client_cert)
    factory = WampWebSocketClientFactory(lambda: S(ComponentConfig(realm='realm1')), url=url)
    connectWS(factory, options)
    reactor.callLater(TIMEOUT, lambda: finish({'timeout': True}))
    reactor.run()
    if result.get('timeout'):
        raise TimeoutError('no outcome')
    return result


def main(argv):
    if len(argv) not in (7, 8) or argv[2] not in ('asyncio', 'twisted') or argv[3] not in ('tls', 'cryptosign'):
        print(f'usage: {argv[0]} <wss-url> <asyncio|twisted> <tls|cryptosign> <ca> <cert|-> <key|-> [seed]', file=sys.stderr)
        return 2
    url, flavor, method, ca, cert, key = argv[1:7]
    seed = argv[7] if len(argv) == 8 else None
    try:
        import autobahn  # noqa: F401
        run = run_asyncio if flavor == 'asyncio' else run_twisted
    except ImportError as e:
        print(f'python_tls.py: cannot import Autobahn|Python with {sys.executable}: {e}', file=sys.stderr)
        return 3
    try:
        outcome = run(url, method, ca, cert, key, seed)
    except Exception as e:  # noqa: BLE001
        print(f'python_tls.py: FAILED: {type(e).__name__}: {e}', file=sys.stderr, flush=True)
        return 1
    # Twisted's logging redirects sys.stdout into the log: write to the real one.
    sys.__stdout__.write(json.dumps(outcome, default=str) + '\n')
    sys.__stdout__.flush()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
