#!/usr/bin/python3
"""Autobahn|Python interop peer for Crosswire's integration tests.

Run with Debian's interpreter and Debian's python3-autobahn / python3-msgpack
(scripts/install-test-deps.sh installs them):

    /usr/bin/python3 test/interop/python_client.py <url> <json|msgpack> <role>

It joins realm1 over WebSocket with exactly one serializer and plays one role
(test/integration/python-interop.test.ts drives the other side with AutobahnJS):

callee-subscriber
    registers com.interop.echo  (returns its args and kwargs unchanged),
              com.interop.add2  (x + y; an ApplicationError unless both are ints),
              com.interop.types (describes the Python types of its args/kwargs),
    subscribes to com.interop.to_python; on the first event there it publishes
    com.interop.from_python with the same args and
    kwargs {"kwargs": <the event's kwargs>, "types": describe([args, kwargs])}
    (acknowledge=True). Prints "READY" once registered and subscribed, and
    exits 0 after it has echoed one event.

caller-publisher
    calls com.interop.js_echo with [b"\\x00\\x01\\xfe\\xff", 2**40, "text"] and
    {"blob": b"\\xff"} and checks the result is exactly that (bytes stay bytes,
    2**40 stays an int); subscribes to com.interop.to_python_2; publishes
    com.interop.from_python_2 with [b"\\x10\\x20"] (acknowledge=True); waits for
    one event on com.interop.to_python_2 that must be exactly
    [b"\\x30\\x40", 2**40]; then prints "OK" and exits 0.

Any failure, a lost connection, or not finishing within TIMEOUT seconds: a
message on stderr and exit code 1 (2 for bad usage, 3 for missing packages).
"""

import os
import sys

# autobahn picks its JSON module when imported; ujson cannot carry binary payloads.
os.environ.pop('AUTOBAHN_USE_UJSON', None)

import asyncio  # noqa: E402

TIMEOUT = 10.0  # seconds, for the whole run
REALM = 'realm1'
ROLES = ('callee-subscriber', 'caller-publisher')

try:
    import msgpack  # noqa: F401,E402  (autobahn's MsgPackSerializer needs it)
    import txaio  # noqa: E402
    txaio.use_asyncio()
    from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
    from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
    from autobahn.wamp.exception import ApplicationError  # noqa: E402
    from autobahn.wamp.serializer import JsonSerializer, MsgPackSerializer  # noqa: E402
    from autobahn.wamp.types import CallResult, ComponentConfig, PublishOptions  # noqa: E402
    from autobahn.websocket.util import parse_url  # noqa: E402
except ImportError as e:
    print(f'python_client.py: cannot import Autobahn|Python with {sys.executable}: {e}\n'
          'Run scripts/install-test-deps.sh (installs python3-autobahn and python3-msgpack).',
          file=sys.stderr)
    sys.exit(3)


class CheckFailed(Exception):
    pass


def describe(v):
    """A JSON-able description of a value's Python types, e.g. "bytes:0001feff", "int:5"."""
    if isinstance(v, bytes):
        return 'bytes:' + v.hex()
    if isinstance(v, bool):
        return 'bool:' + str(v).lower()
    if isinstance(v, int):
        return f'int:{v}'
    if isinstance(v, float):
        return f'float:{v!r}'
    if isinstance(v, str):
        return 'str:' + v
    if v is None:
        return 'null'
    if isinstance(v, (list, tuple)):
        return [describe(x) for x in v]
    if isinstance(v, dict):
        return {k: describe(x) for k, x in v.items()}
    return f'{type(v).__name__}:{v!r}'


def expect_exact(what, actual, expected):
    """Equal values *and* equal types, recursively (so 2**40 != 2**40.0 and b'x' != 'x')."""
    if describe(actual) != describe(expected):
        raise CheckFailed(f'{what}: expected {expected!r} ({describe(expected)}), '
                          f'got {actual!r} ({describe(actual)})')


def call_parts(res):
    """(args, kwargs) of a call's result, however Autobahn|Python wrapped it."""
    if isinstance(res, CallResult):
        return list(res.results), dict(res.kwresults)
    if res is None:
        return [], {}
    return [res], {}


class InteropSession(ApplicationSession):
    def __init__(self, config, role, done):
        super().__init__(config)
        self.role = role
        self.done = done
        self.stage = 'joining realm1'
        self.ok = False
        self.error = None

    def finish(self, error=None):
        """Record success or the first failure, and leave the realm."""
        if self.ok or self.error is not None:
            return
        if error is None:
            self.ok = True
        else:
            self.error = error
        self.stage = 'leaving (GOODBYE)' if error is None else self.stage
        if self.is_attached():
            self.leave('wamp.close.normal')
        else:
            self._settle()

    def _settle(self):
        if self.done.done():
            return
        if self.ok:
            self.done.set_result(None)
        elif self.error is not None:
            self.done.set_exception(self.error)
        else:
            self.done.set_exception(CheckFailed(f'connection lost while {self.stage}'))

    async def onJoin(self, details):
        try:
            if self.role == 'callee-subscriber':
                await self.callee_subscriber()
            else:
                await self.caller_publisher()
        except Exception as e:  # noqa: BLE001 - every failure must end the run
            self.finish(e if isinstance(e, CheckFailed) else CheckFailed(f'while {self.stage}: {e!r}'))

    def onLeave(self, details):
        if not self.ok and self.error is None:
            self.error = CheckFailed(f'session left by the router while {self.stage}: '
                                     f'{details.reason} {details.message or ""}'.rstrip())
        self.disconnect()

    def onDisconnect(self):
        self._settle()

    # -- role callee-subscriber ----------------------------------------------------------

    async def callee_subscriber(self):
        def echo(*args, **kwargs):
            return CallResult(*args, **kwargs)

        def add2(x, y):
            if type(x) is not int or type(y) is not int:
                raise ApplicationError('com.interop.error.not_int',
                                       f'add2 wants two ints, got {describe([x, y])}')
            return x + y

        def types(*args, **kwargs):
            return CallResult(*describe(list(args)), **describe(kwargs))

        self.stage = 'registering com.interop.echo'
        await self.register(echo, 'com.interop.echo')
        self.stage = 'registering com.interop.add2'
        await self.register(add2, 'com.interop.add2')
        self.stage = 'registering com.interop.types'
        await self.register(types, 'com.interop.types')

        async def on_event(*args, **kwargs):
            if self.stage != 'waiting for an event on com.interop.to_python':
                return  # only the first event is echoed
            try:
                self.stage = 'publishing com.interop.from_python'
                await self.publish('com.interop.from_python', *args,
                                   kwargs=kwargs, types=describe([list(args), kwargs]),
                                   options=PublishOptions(acknowledge=True))
                self.finish()
            except Exception as e:  # noqa: BLE001
                self.finish(CheckFailed(f'while {self.stage}: {e!r}'))

        self.stage = 'subscribing to com.interop.to_python'
        await self.subscribe(on_event, 'com.interop.to_python')
        self.stage = 'waiting for an event on com.interop.to_python'
        print('READY', flush=True)

    # -- role caller-publisher -----------------------------------------------------------

    async def caller_publisher(self):
        sent_args = [b'\x00\x01\xfe\xff', 2**40, 'text']
        sent_kwargs = {'blob': b'\xff'}
        self.stage = 'calling com.interop.js_echo'
        res = await self.call('com.interop.js_echo', *sent_args, **sent_kwargs)
        args, kwargs = call_parts(res)
        expect_exact('com.interop.js_echo result args', args, sent_args)
        expect_exact('com.interop.js_echo result kwargs', kwargs, sent_kwargs)

        got_event = asyncio.get_running_loop().create_future()

        def on_event(*args, **kwargs):
            if not got_event.done():
                got_event.set_result((list(args), kwargs))

        self.stage = 'subscribing to com.interop.to_python_2'
        await self.subscribe(on_event, 'com.interop.to_python_2')
        self.stage = 'publishing com.interop.from_python_2'
        await self.publish('com.interop.from_python_2', b'\x10\x20',
                           options=PublishOptions(acknowledge=True))
        self.stage = 'waiting for an event on com.interop.to_python_2'
        args, kwargs = await got_event
        expect_exact('com.interop.to_python_2 event args', args, [b'\x30\x40', 2**40])
        expect_exact('com.interop.to_python_2 event kwargs', kwargs, {})
        print('OK', flush=True)
        self.finish()


async def run(url, serializer, role, sessions):
    loop = asyncio.get_running_loop()
    txaio.config.loop = loop
    done = loop.create_future()

    def make_session():
        s = InteropSession(ComponentConfig(realm=REALM), role, done)
        sessions.append(s)
        return s

    is_secure, host, port, _resource, _path, _params = parse_url(url)
    if is_secure:
        raise CheckFailed('only ws:// URLs are supported')
    factory = WampWebSocketClientFactory(make_session, url=url, serializers=[serializer], loop=loop)
    factory.setProtocolOptions(openHandshakeTimeout=TIMEOUT, closeHandshakeTimeout=1.0)
    try:
        transport, _protocol = await loop.create_connection(factory, host, port)
    except OSError as e:
        raise CheckFailed(f'cannot connect to {url}: {e}') from e
    try:
        await done
    finally:
        transport.close()


def main(argv):
    if len(argv) != 4 or argv[2] not in ('json', 'msgpack') or argv[3] not in ROLES:
        print(f'usage: {argv[0]} <ws-url> <json|msgpack> <{"|".join(ROLES)}>', file=sys.stderr)
        return 2
    url, ser_name, role = argv[1:]
    serializer = JsonSerializer() if ser_name == 'json' else MsgPackSerializer()
    txaio.start_logging(level='warn', out=sys.stderr)
    label = f'python_client.py [{ser_name} {role}]'

    sessions = []

    async def bounded():
        try:
            await asyncio.wait_for(run(url, serializer, role, sessions), TIMEOUT)
        except asyncio.TimeoutError:
            s = sessions[-1] if sessions else None
            stage = s.stage if s else 'connecting'
            if s and s.ok:
                raise CheckFailed(f'all checks passed, but the router did not close the session '
                                  f'within {TIMEOUT:g} s ({stage})') from None
            raise CheckFailed(f'timed out after {TIMEOUT:g} s while {stage}') from None

    try:
        asyncio.run(bounded())
    except Exception as e:  # noqa: BLE001
        print(f'{label}: FAILED: {e}', file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
