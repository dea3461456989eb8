import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { Keyring, SEAL_OVERHEAD, SealError, Sealer, type SealDrops, type SealMode } from '../../../src/control/seal/index.js';

const K1 = new Uint8Array(32).fill(0x11);
const K2 = new Uint8Array(16).fill(0x22);
const MODES: SealMode[] = ['none', 'auth', 'encrypt'];
const sum = (d: SealDrops): number => Object.values(d).reduce((a, b) => a + b, 0);
const mk = (mode: SealMode, o: Partial<ConstructorParameters<typeof Sealer>[0]> = {}): Sealer =>
  new Sealer({ mode, keyring: new Keyring([K1]), maxPlainBytes: 4096, ...o });
const text = (n: number): Uint8Array => new TextEncoder().encode('node-17.example alive inc=42 meta=role:worker;zone:a '.repeat(Math.ceil(n / 50)).slice(0, n));

test('seal/open round trips for every mode, with and without compression and aad', () => {
  for (const mode of MODES) {
    for (const compress of [false, true]) {
      const tx = mk(mode, { compress }), rx = mk(mode, { compress: !compress }); // receivers decompress regardless
      for (const size of [0, 1, 63, 64, 500, 1400, 4096]) {
        for (const plain of [text(size), new Uint8Array(randomBytes(size))]) {
          for (const aad of [undefined, new TextEncoder().encode('cluster-a')]) {
            const sealed = tx.seal(plain, aad);
            const got = rx.open(sealed, aad);
            assert.ok(got !== null, `${mode} compress=${compress} size=${size}`);
            assert.deepEqual(Buffer.from(got), Buffer.from(plain));
          }
        }
      }
      assert.equal(sum(rx.drops), 0);
    }
  }
});

test('framing: overhead, readable body in auth mode, hidden in encrypt mode, compression only when it helps', () => {
  const plain = text(1000);
  const auth = mk('auth').seal(plain), enc = mk('encrypt').seal(plain), none = mk('none').seal(plain);
  assert.equal(auth.length, plain.length + SEAL_OVERHEAD);
  assert.equal(enc.length, plain.length + SEAL_OVERHEAD);
  assert.equal(none.length, plain.length + 2);
  assert.deepEqual(Buffer.from(auth.subarray(18, 18 + 1000)), Buffer.from(plain));
  assert.ok(!Buffer.from(enc).includes(Buffer.from(plain.subarray(0, 16))));
  const c = mk('encrypt', { compress: true });
  const small = c.seal(plain);
  assert.ok(small.length < plain.length / 3, `compressed ${small.length}`);
  assert.equal(small[1]! & 4, 4);
  const rnd = new Uint8Array(randomBytes(1000));
  const big = c.seal(rnd);
  assert.equal(big[1]! & 4, 0, 'incompressible data is sent as is');
  assert.equal(big.length, 1000 + SEAL_OVERHEAD);
  assert.equal(c.counters.compressed, 1);
  // fresh random nonce per message: same plaintext, different frames
  assert.notDeepEqual(Buffer.from(mk('auth').seal(plain)), Buffer.from(auth));
  // injected nonce source => deterministic frames (simulations)
  const det = (): Sealer => mk('encrypt', { randomBytes: (n) => new Uint8Array(n).fill(7) });
  assert.deepEqual(Buffer.from(det().seal(plain)), Buffer.from(det().seal(plain)));
});

test('tampering with any byte of an auth/encrypt frame => null, counted once', () => {
  for (const mode of ['auth', 'encrypt'] as const) {
    for (const compress of [false, true]) {
      const tx = mk(mode, { compress }), rx = mk(mode);
      const aad = new TextEncoder().encode('lbl');
      const frame = tx.seal(text(300), aad);
      for (let i = 0; i < frame.length; i++) {
        for (const flip of [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff]) {
          const bad = Uint8Array.from(frame);
          bad[i]! ^= flip;
          const before = sum(rx.drops);
          assert.equal(rx.open(bad, aad), null, `${mode} byte ${i} ^ ${flip}`);
          assert.equal(sum(rx.drops), before + 1);
        }
      }
      // truncation and extension
      for (let n = 0; n < frame.length; n += 7) assert.equal(rx.open(frame.subarray(0, n), aad), null);
      assert.equal(rx.open(Buffer.concat([frame, Buffer.from([0])]), aad), null);
      // wrong aad
      assert.equal(rx.open(frame, new TextEncoder().encode('lbm')), null);
      assert.equal(rx.open(frame), null);
      assert.ok(rx.open(frame, aad) !== null);
      assert.ok(rx.drops.auth > 0 && rx.drops.short > 0 && rx.drops.version > 0 && rx.drops.unknownKey > 0);
    }
  }
});

test('auth mode: bytes cannot move between the caller aad and the body (length-prefixed aad)', () => {
  const tx = mk('auth'), rx = mk('auth');
  const frame = tx.seal(new TextEncoder().encode('body'), new TextEncoder().encode('cluster-ab'));
  // Move the last aad byte into the body: same concatenation, different split.
  const forged = Buffer.concat([frame.subarray(0, 18), Buffer.from('b'), frame.subarray(18)]);
  assert.equal(rx.open(forged, new TextEncoder().encode('cluster-a')), null);
  assert.equal(rx.drops.auth, 1);
});

test('wrong key => null (unknownKey); forged tag under a known key id => null (auth)', () => {
  for (const mode of ['auth', 'encrypt'] as const) {
    const tx = mk(mode);
    const rx = new Sealer({ mode, keyring: new Keyring([K2]), maxPlainBytes: 4096 });
    assert.equal(rx.open(tx.seal(text(100))), null);
    assert.equal(rx.drops.unknownKey, 1);
    // a frame naming K2's id, with garbage nonce/body/tag
    const own = rx.seal(text(100));
    const forged = Uint8Array.from(own);
    forged.fill(0xab, 6);
    assert.equal(rx.open(forged), null);
    assert.equal(rx.drops.auth, 1);
  }
});

test('mode policy: weaker than minIncoming is a mode drop; stronger is accepted; no keyring cannot verify', () => {
  const frames = Object.fromEntries(MODES.map((m) => [m, mk(m).seal(text(80))])) as Record<SealMode, Uint8Array>;
  const accepts = (rx: Sealer): string => MODES.filter((m) => rx.open(frames[m]) !== null).join(',');
  assert.equal(accepts(mk('none')), 'none,auth,encrypt'); // has the keyring: verifies what it can
  assert.equal(accepts(new Sealer({ mode: 'none', maxPlainBytes: 4096 })), 'none');
  assert.equal(accepts(mk('auth')), 'auth,encrypt');
  assert.equal(accepts(mk('encrypt')), 'encrypt');
  assert.equal(accepts(mk('encrypt', { minIncoming: 'auth' })), 'auth,encrypt'); // migrating auth -> encrypt
  const strict = mk('encrypt');
  strict.open(frames.none); strict.open(frames.auth);
  assert.equal(strict.drops.mode, 2);
  const nokey = new Sealer({ mode: 'none', maxPlainBytes: 4096 });
  nokey.open(frames.auth);
  assert.equal(nokey.drops.mode, 1);
});

test('compression bound: zip bombs and oversize plaintexts are dropped as tooLarge; bad deflate as decompress', () => {
  const rx = new Sealer({ mode: 'none', maxPlainBytes: 1400 });
  const bomb = deflateRawSync(Buffer.alloc(10_000_000)); // ~10 KB inflating to 10 MB
  assert.ok(bomb.length < 20_000);
  const frame = Buffer.concat([Buffer.from([1, 0x04]), bomb]);
  const t0 = performance.now();
  assert.equal(rx.open(frame), null);
  assert.ok(performance.now() - t0 < 500, 'inflation stopped early');
  assert.equal(rx.drops.tooLarge, 1);
  // exactly at the bound is fine, one over is not
  assert.equal(rx.open(Buffer.concat([Buffer.from([1, 0x04]), deflateRawSync(Buffer.alloc(1400))]))?.length, 1400);
  assert.equal(rx.open(Buffer.concat([Buffer.from([1, 0x04]), deflateRawSync(Buffer.alloc(1401))])), null);
  assert.equal(rx.open(Buffer.concat([Buffer.from([1, 0x00]), Buffer.alloc(1401)])), null);
  assert.equal(rx.drops.tooLarge, 3);
  // a sender with a larger bound, authenticated and compressed: still bounded at the receiver
  const tx = new Sealer({ mode: 'auth', keyring: new Keyring([K1]), maxPlainBytes: 100_000, compress: true });
  const rxa = new Sealer({ mode: 'auth', keyring: new Keyring([K1]), maxPlainBytes: 1400 });
  assert.equal(rxa.open(tx.seal(new Uint8Array(50_000))), null);
  assert.equal(rxa.drops.tooLarge, 1);
  // garbage flagged as compressed
  assert.equal(rx.open(Buffer.from([1, 0x04, 0xff, 0xff, 0xff, 0xff])), null);
  assert.equal(rx.drops.decompress, 1);
  // sealing above the bound is a caller bug: a coded error
  assert.throws(() => rx.seal(new Uint8Array(1401)), (e: unknown) => e instanceof SealError && e.code === 'VXM_ERR_SEAL_TOO_LARGE');
});

test('random bytes never throw, and every null is counted', () => {
  const receivers = [mk('none'), mk('auth'), mk('encrypt'), new Sealer({ mode: 'none', maxPlainBytes: 64, compress: true })];
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 255 }), fc.boolean(), (raw, flags, withHeader) => {
      const bytes = withHeader ? Uint8Array.from([1, flags, ...raw]) : raw; // reach past the version check too
      for (const rx of receivers) {
        const before = sum(rx.drops) + rx.counters.opened;
        rx.open(bytes);
        assert.equal(sum(rx.drops) + rx.counters.opened, before + 1);
      }
    }),
    { numRuns: 3000, seed: 42 },
  );
});

test('config errors are coded', () => {
  const cfg = (o: object): unknown => () => new Sealer({ mode: 'auth', maxPlainBytes: 10, ...o } as ConstructorParameters<typeof Sealer>[0]);
  const isCfg = (e: unknown): boolean => e instanceof SealError && e.code === 'VXM_ERR_SEAL_CONFIG';
  assert.throws(cfg({}) as () => void, isCfg); // auth without keyring
  assert.throws(cfg({ mode: 'none', minIncoming: 'auth' }) as () => void, isCfg);
  assert.throws(cfg({ mode: 'nope', keyring: new Keyring([K1]) }) as () => void, isCfg);
  assert.throws(cfg({ keyring: new Keyring([K1]), maxPlainBytes: 0 }) as () => void, isCfg);
  assert.throws(() => mk('auth', { randomBytes: () => new Uint8Array(4) }).seal(text(10)), isCfg);
});

test('throughput: seal+open of 1400-byte messages (printed, not asserted)', () => {
  const plain = text(1400);
  const rows: string[] = [];
  for (const [mode, compress] of [['none', false], ['auth', false], ['encrypt', false], ['encrypt', true]] as const) {
    const tx = mk(mode, { compress }), rx = mk(mode);
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 150) {
      for (let i = 0; i < 100; i++) rx.open(tx.seal(plain));
      n += 100;
    }
    const s = (performance.now() - t0) / 1000;
    assert.equal(rx.counters.opened, n);
    rows.push(`${(mode + (compress ? '+deflate' : '')).padEnd(16)} ${String(Math.round(n / s)).padStart(8)} msg/s  ${(n * 1400 / s / 1e6).toFixed(1).padStart(6)} MB/s  ${(s / n * 1e6).toFixed(1).padStart(6)} us/msg`);
  }
  console.log(`seal+open, 1400-byte messages:\n${rows.join('\n')}`);
});
