import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compareKeys, ListingProgress } from '../../common/listing-progress.js';

describe('compareKeys', () => {
  test('is the byte order of the UTF-8 encodings, as S3 lists', () => {
    const keys = ['a', 'B', 'a/b', 'a-b', 'ab', '', 'é', '\uFF5E', '😀', 'z', 'a\u0000'];
    const bytewise = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    assert.deepEqual([...keys].sort(compareKeys), bytewise);
    assert.equal(compareKeys('\uFF5E', '😀'), -1, 'U+FF5E before U+1F600, although its UTF-16 unit is higher');
    assert.equal(compareKeys('x', 'x'), 0);
  });
});

describe('ListingProgress', () => {
  const key = (kind: string, id: string) => `${kind}/2025/01/${id}/${id}.zip`;

  test('covers a key once every kind has listed it or a later key, or finished', () => {
    const progress = new ListingProgress(['Exports', 'Distro']);
    const of = (id: string) => (kind: string) => key(kind, id);
    assert.equal(progress.covers(of('A')), false, 'nothing listed yet');
    progress.passed('Exports', key('Exports', 'B'), false);
    assert.equal(progress.covers(of('A')), false, 'Distro has not got there');
    progress.passed('Distro', key('Distro', 'A'), false);
    assert.equal(progress.covers(of('A')), true, 'both at or past A');
    assert.equal(progress.covers(of('B')), false, 'Distro is still before B');
    progress.passed('Distro', undefined, true);
    assert.equal(progress.covers(of('B')), true);
    assert.equal(progress.covers(of('C')), false, 'Exports is before C and not finished');
    assert.equal(progress.done, false);
    progress.passed('Exports', key('Exports', 'D'), true);
    assert.equal(progress.covers(of('ZZZ')), true);
    assert.equal(progress.done, true);
  });

  test('a page without keys moves nothing; going back, a page after the last one, or an unknown kind are errors', () => {
    const progress = new ListingProgress(['Exports']);
    progress.passed('Exports', undefined, false);
    assert.equal(progress.covers(() => 'Exports/a'), false);
    progress.passed('Exports', 'Exports/b', false);
    assert.throws(() => progress.passed('Exports', 'Exports/a', false), /went back from Exports\/b to Exports\/a/);
    assert.throws(() => progress.passed('Exports', 'Exports/b', false), /went back/);
    assert.throws(() => progress.passed('Distro' as 'Exports', 'Distro/a', false), /not a listed kind: Distro/);
    progress.passed('Exports', 'Exports/c', true);
    assert.throws(() => progress.passed('Exports', 'Exports/d', false), /already finished/);
  });
});
