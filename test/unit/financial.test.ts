import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  financialContent,
  financialRunWorkflowId,
  monthsBetween,
  parsePeriod,
  previousMonth,
  reportSummary,
  reportVariables,
  usedReportVariables,
  withReportLinks,
} from '../../common/financial.js';

test('the period is the month before the run, in the business time zone', () => {
  assert.deepEqual(previousMonth(new Date('2026-09-01T13:00:00Z'), 'America/Los_Angeles'), { year: 2026, month: 8 });
  // 00:30 on the 1st in Los Angeles is 07:30 UTC: still September there, so August.
  assert.deepEqual(previousMonth(new Date('2026-09-01T07:30:00Z'), 'America/Los_Angeles'), { year: 2026, month: 8 });
  // 23:30 on 31 August in Los Angeles is already 1 September in UTC: the period is July.
  assert.deepEqual(previousMonth(new Date('2026-09-01T06:30:00Z'), 'America/Los_Angeles'), { year: 2026, month: 7 });
  assert.deepEqual(previousMonth(new Date('2026-09-01T06:30:00Z'), 'UTC'), { year: 2026, month: 8 });
  assert.deepEqual(previousMonth(new Date('2027-01-01T12:00:00Z'), 'Europe/London'), { year: 2026, month: 12 });
});

test('periods read and print as YYYY-MM, and ranges run month by month', () => {
  assert.deepEqual(parsePeriod('2025-08'), { year: 2025, month: 8 });
  assert.equal(parsePeriod('2025-13'), undefined);
  assert.equal(parsePeriod('August'), undefined);
  assert.equal(financialRunWorkflowId({ year: 2025, month: 8 }), 'financial-2025-08');
  assert.deepEqual(
    monthsBetween({ year: 2025, month: 11 }, { year: 2026, month: 2 }).map((p) => `${p.year}-${p.month}`),
    ['2025-11', '2025-12', '2026-1', '2026-2'],
  );
  assert.deepEqual(monthsBetween({ year: 2026, month: 2 }, { year: 2026, month: 1 }), []);
});

test('each customer sees their own links and the right summary line', () => {
  assert.equal(reportSummary(['youtube', 'streaming']), '2 reports available');
  assert.equal(reportSummary(['streaming']), 'Your streaming report is available');
  assert.equal(reportSummary(['youtube']), 'Your YouTube report is available');
  assert.equal(reportSummary([]), 'No reports are available for you this month');

  const vars = reportVariables([
    { kind: 'streaming', label: 'Streaming Report', filename: 'A&B.zip', url: 'https://r.example/Distro/x?a=1&b=2' },
    { kind: 'youtube', label: 'YouTube Report', filename: 'A&B.zip', url: 'https://r.example/Exports/x' },
  ]);
  assert.equal(vars['report_summary'], '2 reports available');
  assert.equal(vars['youtube_url'], 'https://r.example/Exports/x');
  assert.match(vars['report_links_html'] ?? '', /^<ul><li><a href="https:\/\/r\.example\/Exports\/x">YouTube Report<\/a> \(A&amp;B\.zip\)<\/li>/);
  assert.match(vars['report_links_html'] ?? '', /href="https:\/\/r\.example\/Distro\/x\?a=1&amp;b=2"/, 'escaped for HTML');
  assert.deepEqual(reportVariables([])['report_links_html'], '');
});

test('a batch carries only the report variables its content shows', () => {
  const standard = financialContent({ year: 2025, month: 8 }, { withLinks: true });
  assert.deepEqual([...usedReportVariables(standard)].sort(), ['report_links_html', 'report_links_text', 'report_summary']);
  assert.deepEqual([...usedReportVariables({ subject: 'Hi %recipient.name%', html: '<a href="%recipient.youtube_url%">x</a>' })], ['youtube_url']);
  assert.equal(usedReportVariables(financialContent({ year: 2025, month: 8 }, { withLinks: false })).size, 0);
});

test("attachReporting adds the recipient's links below the CRM's own email, unless it places them itself", () => {
  const mail = { subject: 'Statements', html: '<html><body><p>Hi</p></body></html>', text: 'Hi', from: 'DN <a@b.c>' };
  const added = withReportLinks(mail);
  assert.equal(added.html, '<html><body><p>Hi</p><p>%recipient.report_summary%.</p>%recipient.report_links_html%</body></html>');
  assert.equal(added.text, 'Hi\n\n%recipient.report_summary%.\n%recipient.report_links_text%');
  assert.equal(added.from, mail.from);
  assert.equal(withReportLinks({ subject: 'S', html: '<p>Hi</p>' }).html, '<p>Hi</p><p>%recipient.report_summary%.</p>%recipient.report_links_html%');
  const placed = { subject: 'S', html: '<a href="%recipient.youtube_url%">YouTube</a>' };
  assert.equal(withReportLinks(placed), placed, 'already placed: left as written');
});
