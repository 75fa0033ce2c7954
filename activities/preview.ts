import { ApplicationFailure } from '@temporalio/activity';
import { CAMPAIGN_VARIABLE, PREVIEW_MARKER_VARIABLE } from '../common/engagement.js';
import { claimPreview, ensurePreview, loadTestAddresses, settlePreview } from '../db/drafts.js';
import { requireCampaign } from './campaigns.js';
import type { ActivityDeps } from './deps.js';
import { onDomains } from '../common/addresses.js';
import { withHeartbeat } from './heartbeat.js';
import { classifyMailgunError } from './mailgun-errors.js';

export interface SendPreviewInput {
  campaignId: string;
  /** Numbers the operator's preview requests: each is sent at most once. */
  previewNo: number;
  /** The configuration version being previewed; an edit since then makes this preview pointless. */
  configVersion: number;
}

export interface PreviewOutcome {
  previewNo: number;
  recipients: number;
  configVersion: number;
}

export function createPreviewActivities({ pool, mailgun, mail }: ActivityDeps) {
  return {
    /**
     * Sends the campaign's current content to its test addresses only, marked
     * as a test ("[TEST]" subject, `v:dn_preview`), at most once per request.
     * If an earlier attempt's outcome is unknown, Mailgun's logs are asked; if
     * they do not show it, the preview is reported unknown rather than sent
     * twice: the operator can look in the test inboxes and ask again.
     */
    async sendPreview({ campaignId, previewNo, configVersion }: SendPreviewInput): Promise<PreviewOutcome> {
      const campaign = await requireCampaign(pool, campaignId);
      if (campaign.configVersion !== configVersion) {
        throw ApplicationFailure.nonRetryable(`campaign ${campaignId} changed (now version ${campaign.configVersion}); preview it again`, 'VersionConflict');
      }
      const { content } = campaign;
      if (!content) throw ApplicationFailure.nonRetryable('nothing to preview: the campaign needs a subject and a body', 'CampaignWithoutContent');
      const addresses = await loadTestAddresses(pool, campaign.testAddressIds);
      const first = addresses[0];
      if (!first) throw ApplicationFailure.nonRetryable('nothing to preview to: the campaign has no test addresses', 'NoTestAddresses');
      // Saved before the rule, or by a client without it: still only the deployment's own domains. (No address in the message: it goes to history.)
      const refused = addresses.filter((a) => !onDomains(a.email, mail.previewDomains)).length;
      if (refused > 0) {
        throw ApplicationFailure.nonRetryable(
          `${refused} of the campaign's test addresses are not on ${mail.previewDomains.join(', ')} (PREVIEW_ALLOWED_DOMAINS): previews go only there`,
          'TestAddressNotAllowed',
        );
      }

      // A preview goes out the way the campaign would if approved now: on its stream's domain, from its sender.
      const stream = mail.streams[campaign.type];
      const gateway = mailgun.on(stream.domain);
      const marker = { name: PREVIEW_MARKER_VARIABLE, value: `${campaignId}:${previewNo}` };
      const row = await ensurePreview(pool, campaignId, previewNo, configVersion);
      if (row.state === 'sent') return { previewNo, recipients: row.recipients ?? addresses.length, configVersion };
      if (row.state === 'failed') throw ApplicationFailure.nonRetryable(`preview ${previewNo} was refused by Mailgun`, 'PreviewRefused');
      if (row.state === 'sending') {
        const found = await withHeartbeat(gateway.findAccepted(first.email, marker, row.sentAt ?? new Date(0)));
        await settlePreview(pool, campaignId, previewNo, found === undefined ? 'unknown' : 'sent', found ?? null);
        if (found !== undefined) return { previewNo, recipients: row.recipients ?? addresses.length, configVersion };
      }
      if (row.state === 'unknown' || row.state === 'sending') {
        throw ApplicationFailure.nonRetryable(
          `preview ${previewNo}: whether it was sent is unknown (an earlier attempt was cut off); check the test inboxes, and ask for another preview to send it again`,
          'PreviewOutcomeUnknown',
        );
      }
      if ((await claimPreview(pool, campaignId, previewNo, addresses.length)) === undefined) {
        throw ApplicationFailure.retryable(`preview ${previewNo} changed meanwhile; the next attempt re-reads it`, 'PreviewChanged');
      }
      try {
        const messageId = await withHeartbeat(
          gateway.sendBatch({
            from: content.from ?? stream.from,
            subject: `[TEST] ${content.subject}`,
            ...(content.html === undefined ? {} : { html: content.html }),
            ...(content.text === undefined ? {} : { text: content.text }),
            recipients: addresses.map((a) => ({ email: a.email, variables: { name: 'Test recipient', user_id: '0', custom_id: 'TEST' } })),
            userVariables: { [CAMPAIGN_VARIABLE]: campaignId, [PREVIEW_MARKER_VARIABLE]: marker.value },
          }),
        );
        await settlePreview(pool, campaignId, previewNo, 'sent', messageId);
      } catch (error) {
        const failure = classifyMailgunError(error, mail.rateLimitBackoffMs);
        switch (failure.kind) {
          case 'ambiguous':
            throw error; // stays 'sending': the next attempt asks Mailgun's logs
          case 'rate-limited':
          case 'not-sent':
          case 'unauthorised':
            await settlePreview(pool, campaignId, previewNo, 'pending', null); // surely not sent: try again
            throw ApplicationFailure.create({
              type: 'PreviewNotSentYet',
              message: `preview ${previewNo}: ${failure.message}`,
              ...(failure.kind === 'rate-limited' ? { nextRetryDelay: failure.retryAfterMs } : {}),
            });
          case 'request-refused':
          case 'invalid-recipient':
            await settlePreview(pool, campaignId, previewNo, 'failed', null);
            throw ApplicationFailure.nonRetryable(`preview ${previewNo} was refused by Mailgun: ${failure.message}`, 'PreviewRefused');
        }
      }
      return { previewNo, recipients: addresses.length, configVersion };
    },
  };
}
