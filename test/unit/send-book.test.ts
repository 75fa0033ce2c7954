import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BatchStatus } from '../../common/ledger.js';
import type { BrakeTrip } from '../../common/brake.js';
import { SendBook } from '../../common/send-book.js';

/** A batch's status as the ledger reports it: accepted whole unless told otherwise. */
function status(book: SendBook, batchNo: number, parts: Partial<BatchStatus> = {}): BatchStatus {
  return {
    batchNo,
    sent: book.plan(batchNo).size,
    failed: 0,
    pendingParts: 0,
    sendingParts: 0,
    unknownParts: 0,
    rateLimitedMs: 0,
    ...parts,
  };
}

/** A book with `total` recipients frozen, in batches of 10. */
function bookOf(total: number, complete = true): SendBook {
  const book = new SendBook(10);
  book.audienceFrozen(total, complete);
  return book;
}

test('batches go out in order, up to the window, and the send is settled when every one has landed', () => {
  const book = bookOf(25);
  assert.equal(book.canLaunch(2), true);
  assert.deepEqual(book.launch(), { batchNo: 0, firstOrdinal: 1, lastOrdinal: 10, size: 10 });
  assert.equal(book.launch().batchNo, 1);
  assert.equal(book.canLaunch(2), false, 'the window of 2 is full');
  assert.equal(book.counts().inFlight, 20);
  assert.equal(book.landed(status(book, 0)), 'none');
  assert.equal(book.canLaunch(2), true);
  assert.deepEqual(book.launch(), { batchNo: 2, firstOrdinal: 21, lastOrdinal: 25, size: 5 });
  assert.equal(book.canLaunch(2), false, 'nothing left to launch');
  book.landed(status(book, 1));
  assert.equal(book.settled(), false, 'batch 2 is still in flight');
  book.landed(status(book, 2));
  assert.equal(book.settled(), true);
  assert.deepEqual(
    { ...book.counts(), status: book.status() },
    {
      total: 25,
      sent: 25,
      failed: 0,
      inFlight: 0,
      paused: false,
      batchesTotal: 3,
      batchesDone: 3,
      audienceComplete: true,
      parkedBatches: [],
      unknownBatches: [],
      status: 'sending',
    },
  );
  assert.equal(book.launchedThisRun, 3);
});

test('while the snapshot is being taken only full batches go out; the last one waits for the snapshot to complete', () => {
  const book = bookOf(25, false);
  assert.equal(book.counts().batchesTotal, 2);
  book.launch();
  book.launch();
  assert.equal(book.canLaunch(8), false, 'recipients 21..25 may not be the whole of batch 2 yet');
  assert.equal(book.settled(), false);
  book.audienceFrozen(28, true);
  assert.equal(book.canLaunch(8), true);
  assert.equal(book.launch().size, 8);
});

test('a batch with a part proven unsent goes out again before any new batch', () => {
  const book = bookOf(40);
  book.launch();
  book.launch();
  assert.equal(book.landed(status(book, 0, { sent: 5, pendingParts: 1 })), 'none');
  assert.equal(book.launch().batchNo, 0, 'the resend comes first');
  book.landed(status(book, 0));
  assert.equal(book.counts().sent, 10, "the resent batch's earlier part is not counted twice");
  assert.equal(book.launch().batchNo, 2);
});

test('a batch of unknown outcome is parked outside the window, and counts again once proven', () => {
  const book = bookOf(30);
  book.launch();
  assert.equal(book.landed(status(book, 0, { sent: 0, sendingParts: 1 })), 'park');
  assert.deepEqual(book.parkedBatches(), [0]);
  assert.equal(book.inFlightBatches, 0, 'a parked batch holds no window slot');
  assert.equal(book.canLaunch(1), true, 'the rest of the campaign keeps sending');
  book.launch();
  book.landed(status(book, 1));
  book.launch();
  book.landed(status(book, 2));
  assert.equal(book.settled(), false, 'the parked batch is not settled');
  assert.equal(book.proven(status(book, 0)), 'none');
  assert.equal(book.settled(), true);
  assert.equal(book.counts().sent, 30);
});

test('a batch nobody could prove waits for an operator: the status says so until it is decided', () => {
  const book = bookOf(10);
  book.launch();
  book.landed(status(book, 0, { sent: 0, sendingParts: 1 }));
  assert.equal(book.proven(status(book, 0, { sent: 0, unknownParts: 1 })), 'operator');
  assert.equal(book.status(), 'needs-attention');
  assert.equal(book.awaitsDecision(0), true);
  assert.equal(book.awaitsDecision(1), false);
  book.beginDecision(0);
  assert.equal(book.awaitsDecision(0), false, 'a second decision while the first is recorded is refused');
  assert.equal(book.settled(), false);
  book.decisionFailed(0);
  assert.equal(book.awaitsDecision(0), true, 'a decision that could not be recorded can be made again');
  book.beginDecision(0);
  assert.equal(book.decided(status(book, 0, { sent: 0, pendingParts: 1 })), 'none', 'resend: queued');
  assert.equal(book.status(), 'sending');
  assert.equal(book.launch().batchNo, 0);
  book.landed(status(book, 0));
  assert.equal(book.settled(), true);
});

test('a batch withdrawn unsent (paused while it waited for its slot) goes first on resume, and is carried if the run ends', () => {
  const book = bookOf(40);
  book.launch();
  book.launch();
  book.launch();
  book.pause();
  book.landed(status(book, 0));
  book.withdrawn(2);
  book.withdrawn(1);
  assert.equal(book.inFlightBatches, 0);
  assert.deepEqual(
    book.carry().open.map(({ batchNo, needs }) => [batchNo, needs]),
    [
      [2, 'send'],
      [1, 'send'],
    ],
  );
  book.resume();
  assert.deepEqual([book.launch().batchNo, book.launch().batchNo, book.launch().batchNo], [1, 2, 3], 'in their order, before new ones');
});

test('pause stops new batches; cancel stops for good; a closed send changes no more', () => {
  const book = bookOf(50);
  book.launch();
  assert.equal(book.pause(), true);
  assert.equal(book.pause(), false, 'already paused');
  assert.equal(book.status(), 'paused');
  assert.equal(book.canLaunch(8), false);
  assert.equal(book.resume(), true);
  assert.equal(book.canLaunch(8), true);
  assert.equal(book.cancel(), true);
  assert.equal(book.cancelled, true);
  assert.equal(book.status(), 'cancelled');
  assert.equal(book.canLaunch(8), false);
  assert.equal(book.resume(), false, 'a cancelled send cannot be resumed');
  book.close('cancelled');
  assert.equal(book.cancel(), false);
  assert.equal(book.status(), 'cancelled');
});

test('what a continued run carries: counts, the cursor and each open batch with what it still needs', () => {
  const book = bookOf(60);
  for (let i = 0; i < 5; i++) book.launch();
  book.landed(status(book, 0));
  book.landed(status(book, 1, { sent: 4, pendingParts: 1 }));
  book.landed(status(book, 2, { sent: 0, sendingParts: 1 }));
  book.landed(status(book, 3, { sent: 0, sendingParts: 1 }));
  book.proven(status(book, 3, { sent: 0, unknownParts: 1 }));
  assert.throws(() => book.carry(), /still in flight/, 'the window is drained first');
  book.landed(status(book, 4, { failed: 2, sent: 8 }));
  book.pause();
  const carried = book.carry();
  assert.deepEqual(carried, {
    total: 60,
    nextBatch: 5,
    sent: 22,
    failed: 2,
    batchesDone: 2,
    paused: true,
    cancelRequested: false,
    audienceComplete: true,
    open: [
      { batchNo: 1, sent: 4, failed: 0, needs: 'send' },
      { batchNo: 2, sent: 0, failed: 0, needs: 'resolve' },
      { batchNo: 3, sent: 0, failed: 0, needs: 'operator' },
    ],
  });

  const next = new SendBook(10, carried);
  assert.deepEqual(next.parkedBatches(), [2], 'the next run seeks proof for it again');
  assert.deepEqual(next.unknownBatches(), [3]);
  assert.equal(next.status(), 'needs-attention');
  assert.equal(next.launchedThisRun, 0);
  next.resume();
  assert.equal(next.launch().batchNo, 1, 'the batch to resend goes first');
  next.landed(status(next, 1));
  assert.equal(next.counts().sent, 28, "its earlier part is not counted twice");
  assert.equal(next.launch().batchNo, 5);
});

test('an impossible batch size is refused at once', () => {
  assert.throws(() => new SendBook(0), /batchSize/);
  assert.throws(() => new SendBook(1001), /batchSize/);
});

const trip = (reason = 'permanent bounces are 8 %'): BrakeTrip => ({ kind: 'bounces', percent: 8, limitPercent: 5, delivered: 1000, bounced: 87, complained: 0, reason });

test('the brake: a trip pauses the send with needs-attention and its reason; resuming releases it for the rest of the send', () => {
  const book = bookOf(40);
  assert.equal(book.brakeArmed, true);
  book.launch();
  const held = book.launch();
  book.landed(status(book, 0));
  // Batch 1 found the brake tripped and sent nothing: it goes first again when the send resumes.
  book.withdrawn(held.batchNo);
  assert.equal(book.braked(trip()), true);
  assert.equal(book.braked(trip('again')), false, 'one trip holds it; another changes nothing');
  assert.equal(book.status(), 'needs-attention');
  assert.equal(book.canLaunch(4), false, 'nothing goes out while the brake holds');
  assert.equal(book.attention(), 'permanent bounces are 8 %');
  assert.deepEqual([book.counts().attention, book.counts().brake?.kind, book.counts().paused], ['permanent bounces are 8 %', 'bounces', true]);
  assert.equal(book.pause(), false, 'already paused');
  // Carried across continue-as-new.
  const carried = new SendBook(10, book.carry());
  assert.equal(carried.status(), 'needs-attention');
  assert.equal(carried.attention(), 'permanent bounces are 8 %');

  assert.equal(carried.resume(), true);
  assert.equal(carried.status(), 'sending');
  assert.equal(carried.attention(), undefined);
  assert.equal(carried.brakeArmed, false, 'an operator who resumed has judged the list: the brake stays off');
  assert.equal(carried.braked(trip()), false);
  assert.equal(carried.launch().batchNo, 1, 'the held batch goes first');
  carried.landed(status(carried, 1));
  assert.equal(new SendBook(10, carried.carry()).brakeArmed, false, 'released, across runs too');
});

test('the brake: a cancelled or finished send is not held; unknown batches and the brake both show in the reason', () => {
  const cancelled = bookOf(20);
  cancelled.cancel();
  assert.equal(cancelled.braked(trip()), false);
  assert.equal(cancelled.status(), 'cancelled');
  assert.equal(cancelled.attention(), undefined);

  const braked = bookOf(20);
  braked.braked(trip());
  assert.equal(braked.cancel(), true, 'an operator may cancel a braked send');
  assert.equal(braked.status(), 'cancelled');

  const both = bookOf(30);
  both.launch();
  both.launch();
  both.landed(status(both, 0, { sent: 0, unknownParts: 1 }));
  both.braked(trip());
  assert.equal(both.attention(), 'permanent bounces are 8 %; the outcome of batch 0 is unknown: resolve each (resolve-batch)');
});
