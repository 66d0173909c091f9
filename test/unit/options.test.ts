import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { MsgType } from '../../src/shared/wamp/codes.js';
import { ProtocolViolation } from '../../src/shared/wamp/messages.js';
import { checkOptions } from '../../src/shared/wamp/options.js';

const VECTORS = new URL('../../../test/vectors/wamp-testsuite/singlemessage/basic/', import.meta.url);

interface Sample {
  description?: string;
  test_category?: string;
  wmsg?: unknown[];
  expected_error?: { type: string; contains: string };
}

// The WAMP test vectors' options_validation and details_validation samples: the valid ones pass,
// the invalid ones are a protocol violation naming the key. A router never receives an EVENT: its
// samples pin the table that every EVENT the router sends is held to (event-details.test.ts).
for (const [file, category, count] of [
  ['publish.json', 'options_validation', 0],
  ['subscribe.json', 'options_validation', 0],
  ['event.json', 'details_validation', 21],
] as const) {
  describe(`${category} samples of ${file}`, () => {
    const samples = (JSON.parse(readFileSync(new URL(file, VECTORS), 'utf8')) as { samples: Sample[] }).samples.filter(
      (s) => s.test_category === category,
    );
    test('there are samples', () => {
      assert.ok(samples.length > 5);
      if (count > 0) assert.equal(samples.length, count);
    });
    for (const s of samples) {
      test(s.description ?? JSON.stringify(s.wmsg), () => {
        const type = s.wmsg![0] as number;
        // Options follow the request id; an EVENT's Details follow its subscription and publication ids.
        const options = s.wmsg![type === MsgType.EVENT ? 3 : 2] as Record<string, unknown>;
        if (s.expected_error === undefined) {
          checkOptions(type, options);
        } else {
          assert.throws(
            () => checkOptions(type, options),
            (e: unknown) => e instanceof ProtocolViolation && e.message.includes(s.expected_error!.contains),
          );
        }
      });
    }
  });
}

test('CALL, REGISTER, YIELD and CANCEL options are checked; unknown keys are ignored', () => {
  checkOptions(MsgType.CALL, { timeout: 1000, receive_progress: true, x_custom: 'anything' });
  assert.throws(() => checkOptions(MsgType.CALL, { timeout: -1 }), /CALL\.Options\.timeout/);
  assert.throws(() => checkOptions(MsgType.REGISTER, { invoke: 'everyone' }), /REGISTER\.Options\.invoke/);
  assert.throws(() => checkOptions(MsgType.YIELD, { progress: 'yes' }), /YIELD\.Options\.progress/);
  assert.throws(() => checkOptions(MsgType.CANCEL, { mode: 'now' }), /CANCEL\.Options\.mode/);
  checkOptions(MsgType.CANCEL, { mode: 'killnowait' });
});
