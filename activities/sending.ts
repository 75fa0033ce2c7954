import type { Campaign } from '../db/campaigns.js';
import type { SendingStreams } from '../common/streams.js';

/** How a campaign's messages go out: on which Mailgun domain, from whom, through which IP pool. */
export interface CampaignSending {
  domain: string;
  from: string;
  ipPool?: string;
}

/**
 * The domain and sender frozen at approval (campaigns approved before streams had their own fall
 * back to the stream's current settings); the IP pool is the stream's as configured now.
 */
export function campaignSending(
  campaign: Pick<Campaign, 'type' | 'sendingDomain' | 'frozenContent' | 'content'>,
  streams: SendingStreams,
): CampaignSending {
  const stream = streams[campaign.type];
  return {
    domain: campaign.sendingDomain ?? stream.domain,
    from: campaign.frozenContent?.from ?? campaign.content?.from ?? stream.from,
    ...(stream.ipPool === undefined ? {} : { ipPool: stream.ipPool }),
  };
}
