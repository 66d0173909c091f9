import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect, SERIALIZERS } from '../helpers/client.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { Inbox } from '../helpers/wait.js';

let r: TestRouter;
before(async () => {
  r = await startRouter();
});
after(() => r.stop());

for (const a of SERIALIZERS) {
  for (const b of SERIALIZERS) {
    test(`${a} publisher -> ${b} subscriber, and ${b} caller -> ${a} callee`, async () => {
      const pub = await connect(r.url, a);
      const sub = await connect(r.url, b);
      const events = new Inbox<unknown[]>();
      await sub.session.subscribe('com.example.topic', (args) => events.push(args));
      await pub.session.publish('com.example.topic', ['hello', 42, 2 ** 40], {}, { acknowledge: true });
      assert.deepEqual(await events.waitFor(1), [['hello', 42, 2 ** 40]]);
      await pub.session.register('com.example.add', (args) => (args[0] as number) + (args[1] as number));
      assert.equal(await sub.session.call('com.example.add', [2, 3]), 5);
      await pub.close();
      await sub.close();
    });
  }
}
