"""Runs one Crossbar.io-style Python component for Crosswire (docs/python-components.md).

Crosswire starts this file once per component with an interpreter that has Autobahn|Python.
It reads the component's spec as one JSON line on stdin (never argv or the environment: a
router component's one-time token must not be visible to other processes), puts the worker's
``pythonpath`` first on ``sys.path``, imports ``classname``, and runs the ApplicationSession
subclass with the framework it derives from (``autobahn.twisted.wamp`` or
``autobahn.asyncio.wamp``), with ``ComponentConfig(realm, extra)`` where ``extra`` gets
``cbdir`` as in Crossbar.io. State changes go to Crosswire as JSON lines on fd 3.

Container components connect over their transport: WebSocket, or RawSocket (Twisted:
``autobahn.twisted.rawsocket``; asyncio: ``autobahn.asyncio.rawsocket`` where it works).

Exit codes: 0 the session ended cleanly, 1 it failed (an error in onJoin or another handler,
the connection failed or was lost), 3 the class cannot be imported or is not a session, 4 this
Autobahn|Python cannot run the component as configured (restarting would not help).
Stdin closing (Crosswire went away) or SIGTERM ends the session with GOODBYE and exits.
"""

import importlib
import inspect
import json
import os
import signal
import sys
import threading
import traceback

EVENTS = os.fdopen(3, "w", buffering=1)
CLEAN = {"wamp.close.normal", "wamp.close.goodbye_and_out", "wamp.close.system_shutdown"}


def emit(**event):
    try:
        EVENTS.write(json.dumps(event) + "\n")
        EVENTS.flush()
    except (OSError, ValueError):
        pass


def load_class(spec):
    """Imports classname; exits 3 with the traceback's last line on failure."""
    for p in reversed(spec["pythonpath"]):
        sys.path.insert(0, p)
    module_name, _, class_name = spec["classname"].rpartition(".")
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, class_name)
    except BaseException:
        tb = traceback.format_exc()
        sys.stderr.write(tb)
        emit(event="import-error", message=tb.strip().splitlines()[-1], pythonpath=spec["pythonpath"])
        sys.exit(3)
    # Which framework: the one whose ApplicationSession the class derives from (the user's
    # module imported it; importing the other would switch txaio's framework under it).
    for flavor, name in (("twisted", "autobahn.twisted.wamp"), ("asyncio", "autobahn.asyncio.wamp")):
        m = sys.modules.get(name)
        if m is not None and isinstance(cls, type) and issubclass(cls, m.ApplicationSession):
            return cls, flavor
    emit(
        event="import-error",
        message=f"{spec['classname']} is not a subclass of autobahn.twisted.wamp.ApplicationSession or autobahn.asyncio.wamp.ApplicationSession",
        pythonpath=spec["pythonpath"],
    )
    sys.exit(3)


def serializers(names):
    from autobahn.wamp import serializer as s

    made = []
    for n in names:
        try:
            if n == "json":
                made.append(s.JsonSerializer())
            elif n == "msgpack":
                made.append(s.MsgPackSerializer())
            elif n == "cbor":
                made.append(s.CBORSerializer())
        except Exception:
            pass  # that serializer's library is not installed: offer the others
    if not made:
        made.append(s.JsonSerializer())
    return made


def unsupported(spec, message):
    """Exits 4: this Autobahn|Python cannot run the component as configured."""
    emit(event="unsupported", message=f"component '{spec['id']}' ({spec['classname']}): {message}")
    sys.exit(4)


def rawsocket_serializer(spec):
    """The one serializer a RawSocket client asks for; exits 4 if this Autobahn|Python lacks it."""
    from autobahn.wamp import serializer as s

    name = spec["serializers"][0]
    cls = getattr(s, {"json": "JsonSerializer", "msgpack": "MsgPackSerializer", "cbor": "CBORSerializer"}[name], None)
    try:
        if cls is not None:
            return cls()
    except Exception:
        pass  # e.g. MsgPackSerializer without the msgpack package
    unsupported(spec, f"its rawsocket transport asks for serializer '{name}', which this Autobahn|Python does not have: choose another \"serializer\" or install the library it needs")


def asyncio_rawsocket_factory(spec):
    """autobahn.asyncio.rawsocket's client factory, if it works; else exits 4 saying what to do."""
    from autobahn.asyncio import rawsocket

    # Autobahn|Python 22.7's asyncio RawSocket client protocol lacks the transport_details the
    # WAMP session reads on WELCOME, so every join fails ("Error calling onWelcome handler");
    # later releases define it (autobahn-python#1592; 23.1.2, Debian 13's, joins).
    if not hasattr(rawsocket.WampRawSocketClientProtocol, "transport_details"):
        import autobahn

        unsupported(
            spec,
            f"it is an asyncio component with a rawsocket transport, and the asyncio RawSocket client of Autobahn|Python {autobahn.__version__} "
            "is broken (its protocol has no transport_details, so joining fails). Use a \"websocket\" transport, make the class a Twisted "
            "component (autobahn.twisted.wamp.ApplicationSession), or run it with a newer Autobahn|Python (pip install -U autobahn)",
        )
    return rawsocket.WampRawSocketClientFactory


class Runner:
    """The session's life: joined, failed, left; the exit code follows from it."""

    def __init__(self, spec, cls, flavor):
        self.spec = spec
        self.cls = cls
        self.flavor = flavor
        self.session = None
        self.failed = None
        self.left = None
        self.stopping = False

    def make(self):
        from autobahn.wamp.types import ComponentConfig

        spec = self.spec
        extra = dict(spec["extra"])
        extra["cbdir"] = spec["cbdir"]
        session = self.cls(ComponentConfig(realm=spec["realm"], extra=extra))
        self.session = session

        def panic(fail, msg):
            # As Crossbar.io does for its components: an error escaping a handler (onJoin, ...)
            # is fatal to the session.
            import txaio

            sys.stderr.write(f"{msg}: {txaio.failure_format_traceback(fail)}\n")
            if self.failed is None:
                self.failed = f"{msg}: {txaio.failure_message(fail)}"
                emit(event="error", message=self.failed)
            session.disconnect()

        session._swallow_error = panic
        if self.flavor == "asyncio":
            # Autobahn|Python on asyncio runs a coroutine onJoin as a task nobody awaits, so its
            # error would only be printed at exit: await it here and fail as on Twisted.
            user_on_join = session.onJoin

            async def on_join_checked(details):
                try:
                    result = user_on_join(details)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    import txaio

                    panic(txaio.create_failure(), "While firing onJoin")

            session.onJoin = on_join_checked
        if spec["kind"] == "router":
            # The router assigns realm, role and authid to whoever presents this one-time token on
            # the private component socket; what the class asks for is replaced (trusted setup).
            original = session.join
            token = spec["token"]

            def join(*_args, **_kwargs):
                return original(spec["realm"], authmethods=["anonymous"], authid=spec.get("authid"), authrole=spec["role"], authextra={"crosswire_component_token": token})

            session.join = join
            spec["token"] = None

        def on_join(_s, details):
            emit(event="joined", session=details.session, authid=details.authid, authrole=details.authrole)

        def on_leave(_s, details):
            self.left = details.reason
            if details.reason not in CLEAN and self.failed is None:
                self.failed = f"session ended: {details.reason} {details.message or ''}".strip()
                emit(event="error", message=self.failed)

        session.on("join", on_join)
        session.on("leave", on_leave)
        session.on("disconnect", lambda _s, was_clean=True: self.finish())
        return session

    def lost(self, reason):
        if self.failed is None:
            self.failed = f"cannot connect: {reason}"
            emit(event="error", message=self.failed)
        self.finish()

    def exit_code(self):
        if self.failed is not None:
            return 1
        if self.left in CLEAN or self.stopping:
            return 0
        self.failed = "the connection was lost"
        emit(event="error", message=self.failed)
        return 1

    def graceful(self):
        """SIGTERM or stdin EOF: GOODBYE, then exit (at most 2 s later)."""
        self.stopping = True
        s = self.session
        if s is not None and s.is_attached():
            s.leave("wamp.close.normal", "component stopping")
            self.later(2.0, self.finish)
        else:
            self.finish()


def watch_stdin(on_eof):
    def run():
        try:
            while sys.stdin.buffer.read(65536):
                pass
        except OSError:
            pass
        on_eof()

    threading.Thread(target=run, daemon=True).start()


def run_twisted(spec, runner):
    from twisted.internet import reactor
    from twisted.internet import endpoints

    def finish():
        if reactor.running:
            reactor.stop()

    runner.finish = finish
    runner.later = lambda secs, fn: reactor.callLater(secs, fn)
    if spec.get("transport") == "rawsocket":
        from autobahn.twisted.rawsocket import WampRawSocketClientFactory

        factory = WampRawSocketClientFactory(runner.make, serializer=rawsocket_serializer(spec))
    else:
        from autobahn.twisted.websocket import WampWebSocketClientFactory

        factory = WampWebSocketClientFactory(runner.make, url=spec["url"], serializers=serializers(spec["serializers"]))
    ep = spec["endpoint"]
    if ep["type"] == "unix":
        endpoint = endpoints.UNIXClientEndpoint(reactor, ep["path"], timeout=ep["timeout"])
    else:
        cls = endpoints.TCP6ClientEndpoint if ep.get("version") == 6 else endpoints.TCP4ClientEndpoint
        endpoint = cls(reactor, ep["host"], ep["port"], timeout=ep["timeout"])
        tls = ep.get("tls")
        if tls:
            from twisted.internet import ssl

            trust = None
            if tls["ca_certificates"]:
                trust = ssl.trustRootFromCertificates([ssl.Certificate.loadPEM(open(f, "rb").read()) for f in tls["ca_certificates"]])
            client = None
            if tls.get("certificate"):
                client = ssl.PrivateCertificate.loadPEM(open(tls["certificate"], "rb").read() + open(tls["key"], "rb").read())
            options = ssl.optionsForClientTLS(tls["hostname"], trustRoot=trust, clientCertificate=client)
            endpoint = endpoints.wrapClientTLS(options, endpoint)

    def start():
        d = endpoint.connect(factory)
        d.addErrback(lambda f: runner.lost(f.getErrorMessage()))

    signal.signal(signal.SIGTERM, lambda *_: reactor.callFromThread(runner.graceful))
    watch_stdin(lambda: reactor.callFromThread(runner.graceful))
    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=False)


def run_asyncio(spec, runner):
    import asyncio
    import ssl

    import txaio

    rawsocket_factory = asyncio_rawsocket_factory(spec) if spec.get("transport") == "rawsocket" else None
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    txaio.config.loop = loop
    runner.finish = loop.stop
    runner.later = lambda secs, fn: loop.call_later(secs, fn)
    if rawsocket_factory is not None:
        factory = rawsocket_factory(runner.make, serializer=rawsocket_serializer(spec))
    else:
        from autobahn.asyncio.websocket import WampWebSocketClientFactory

        factory = WampWebSocketClientFactory(runner.make, url=spec["url"], serializers=serializers(spec["serializers"]), loop=loop)
    ep = spec["endpoint"]

    async def connect():
        if ep["type"] == "unix":
            await asyncio.wait_for(loop.create_unix_connection(factory, ep["path"]), ep["timeout"])
            return
        context = None
        hostname = None
        tls = ep.get("tls")
        if tls:
            # Verified against ca_certificates when given, else the platform's roots.
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT) if tls["ca_certificates"] else ssl.create_default_context()
            for f in tls["ca_certificates"]:
                context.load_verify_locations(cafile=f)
            if tls.get("certificate"):
                context.load_cert_chain(tls["certificate"], tls["key"])
            hostname = tls["hostname"]
        import socket

        family = socket.AF_INET6 if ep.get("version") == 6 else socket.AF_INET
        await asyncio.wait_for(loop.create_connection(factory, ep["host"], ep["port"], ssl=context, server_hostname=hostname, family=family), ep["timeout"])

    def connected(task):
        if task.cancelled():
            runner.lost("cancelled")
        elif task.exception() is not None:
            e = task.exception()
            runner.lost(str(e) or type(e).__name__)

    loop.add_signal_handler(signal.SIGTERM, runner.graceful)
    watch_stdin(lambda: loop.call_soon_threadsafe(runner.graceful))
    loop.create_task(connect()).add_done_callback(connected)
    loop.run_forever()


def main():
    # A terminal's Ctrl-C reaches the whole process group: Crosswire decides (SIGTERM, stdin EOF).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    spec = json.loads(sys.stdin.readline())
    cls, flavor = load_class(spec)
    import txaio

    if flavor == "twisted":
        txaio.use_twisted()
    else:
        txaio.use_asyncio()
    txaio.start_logging(level=spec.get("log_level", "info"), out=sys.stdout)
    emit(event="loaded", flavor=flavor)
    runner = Runner(spec, cls, flavor)
    (run_twisted if flavor == "twisted" else run_asyncio)(spec, runner)
    code = runner.exit_code()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
