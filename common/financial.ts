/**
 * The monthly financial run's vocabulary, shared by its workflows, activities
 * and clients. Pure: the workflow bundle imports it.
 */

export interface ReportPeriod {
  year: number;
  month: number;
}

/** `2025-08`: how a period appears in workflow ids, search attributes and idempotency keys. */
export function periodLabel({ year, month }: ReportPeriod): string {
  return `${year}-${String(month).padStart(2, '0')}`;
}

export function parsePeriod(label: string): ReportPeriod | undefined {
  const match = /^(\d{4})-(\d{2})$/.exec(label);
  if (!match) return undefined;
  const period = { year: Number(match[1]), month: Number(match[2]) };
  return period.month >= 1 && period.month <= 12 ? period : undefined;
}

/** The workflow that runs a period's campaign; its id refuses a second run of the same month. */
export function financialRunWorkflowId(period: ReportPeriod): string {
  return `financial-${periodLabel(period)}`;
}

/**
 * The period a run at `at` reports on: the calendar month before the one `at`
 * falls in, in `timeZone`. In America/Los_Angeles, 00:30 on 1 September reports
 * on August; 23:30 on 31 August reports on July, although UTC is in September.
 */
export function previousMonth(at: Date, timeZone: string): ReportPeriod {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: 'numeric' }).formatToParts(at);
  const year = Number(parts.find((p) => p.type === 'year')?.value);
  const month = Number(parts.find((p) => p.type === 'month')?.value);
  return month === 1 ? { year: year - 1, month: 12 } : { year, month: month - 1 };
}

/** Months from `from` to `to`, both included, in order. */
export function monthsBetween(from: ReportPeriod, to: ReportPeriod): ReportPeriod[] {
  const months: ReportPeriod[] = [];
  let { year, month } = from;
  while (year < to.year || (year === to.year && month <= to.month)) {
    months.push({ year, month });
    if (month === 12) {
      year += 1;
      month = 1;
    } else {
      month += 1;
    }
  }
  return months;
}

export const REPORT_LINK_KINDS = ['youtube', 'streaming'] as const;
export type ReportLinkKind = (typeof REPORT_LINK_KINDS)[number];

/** What a financial run does with a customer whose month has no report files. */
export const MISSING_REPORTS_POLICIES = ['send-without-links', 'skip'] as const;
export type MissingReportsPolicy = (typeof MISSING_REPORTS_POLICIES)[number];

/** What a financial run does when the CloudFront signing key cannot be loaded. */
export const SIGNING_FAILURE_POLICIES = ['fail', 'send-without-links'] as const;
export type SigningFailurePolicy = (typeof SIGNING_FAILURE_POLICIES)[number];

/** The one line above the links: how many of the customer's reports are there. */
export function reportSummary(kinds: readonly ReportLinkKind[]): string {
  if (kinds.length === 2) return '2 reports available';
  if (kinds[0] === 'youtube') return 'Your YouTube report is available';
  if (kinds[0] === 'streaming') return 'Your streaming report is available';
  return 'No reports are available for you this month';
}

export interface LinkForEmail {
  kind: ReportLinkKind;
  label: string;
  filename: string;
  url: string;
}

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/** The recipient variables reportVariables provides, for templates to show. */
const REPORT_VARIABLES: readonly string[] = ['report_summary', 'report_links_html', 'report_links_text', 'youtube_url', 'streaming_url'];

/**
 * The report-link variables a content refers to (`%recipient.report_links_html%`...).
 * Only those go into a batch: each signed URL is ~450 bytes, and a variable the
 * template never shows would still be sent for every recipient.
 */
export function usedReportVariables(content: { subject: string; html?: string; text?: string }): Set<string> {
  const text = [content.subject, content.html ?? '', content.text ?? ''].join('\n');
  const used = [...text.matchAll(/%recipient\.(\w+)%/g)].map((m) => m[1] as string);
  return new Set(used.filter((name) => REPORT_VARIABLES.includes(name)));
}

/**
 * A customer's own links as Mailgun recipient variables, so one batch carries
 * every customer's links and each message shows only its recipient's:
 * `%recipient.report_summary%`, `%recipient.report_links_html%`,
 * `%recipient.report_links_text%`, and each URL on its own.
 */
export function reportVariables(links: readonly LinkForEmail[]): Record<string, string> {
  const ordered = REPORT_LINK_KINDS.flatMap((kind) => links.filter((l) => l.kind === kind));
  const url = (kind: ReportLinkKind): string => ordered.find((l) => l.kind === kind)?.url ?? '';
  return {
    report_summary: reportSummary(ordered.map((l) => l.kind)),
    report_links_html: ordered.length
      ? `<ul>${ordered.map((l) => `<li><a href="${escapeHtml(l.url)}">${escapeHtml(l.label)}</a> (${escapeHtml(l.filename)})</li>`).join('')}</ul>`
      : '',
    report_links_text: ordered.map((l) => `${l.label} (${l.filename}): ${l.url}`).join('\n'),
    youtube_url: url('youtube'),
    streaming_url: url('streaming'),
  };
}

/**
 * The CRM's attachReporting: its own email, with the recipient's report links
 * added at the end of the body (before `</body>` if there is one), unless the
 * email already places them itself with a report variable.
 */
export function withReportLinks<T extends { subject: string; html?: string; text?: string }>(content: T): T {
  if (usedReportVariables(content).size > 0) return content;
  const block = '<p>%recipient.report_summary%.</p>%recipient.report_links_html%';
  const html = content.html;
  return {
    ...content,
    ...(html === undefined ? {} : { html: /<\/body>/i.test(html) ? html.replace(/<\/body>/i, `${block}</body>`) : html + block }),
    ...(content.text === undefined ? {} : { text: `${content.text}\n\n%recipient.report_summary%.\n%recipient.report_links_text%` }),
  };
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** `August 2025`. */
export function periodName({ year, month }: ReportPeriod): string {
  return `${MONTHS[month - 1] ?? String(month)} ${year}`;
}

/**
 * The financial email. With links, each message shows its recipient's own
 * (recipient variables, see reportVariables); the standard variant, for a run
 * that could not sign links, points to the dashboard instead.
 */
export function financialContent(period: ReportPeriod, { withLinks }: { withLinks: boolean }): { subject: string; html: string; text: string } {
  const name = periodName(period);
  const subject = `Your ${name} statements from Distro Nation`;
  if (!withLinks) {
    return {
      subject,
      html: `<p>Hi %recipient.name%,</p><p>Your statements for ${name} are ready. Sign in to your Distro Nation dashboard to download them.</p>`,
      text: `Hi %recipient.name%,\n\nYour statements for ${name} are ready. Sign in to your Distro Nation dashboard to download them.`,
    };
  }
  return {
    subject,
    html:
      `<p>Hi %recipient.name%,</p><p>Your statements for ${name}: %recipient.report_summary%.</p>` +
      '%recipient.report_links_html%<p>The links work for 25 days.</p>',
    text: `Hi %recipient.name%,\n\nYour statements for ${name}: %recipient.report_summary%.\n\n%recipient.report_links_text%\n\nThe links work for 25 days.`,
  };
}
