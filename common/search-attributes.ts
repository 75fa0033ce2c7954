import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes operators filter on in the Temporal UI, e.g.
 * `CampaignType = "financial" AND CampaignStatus = "sending"`.
 * The dev server registers them at start; a self-hosted server needs
 * `temporal operator search-attribute create` once (see README).
 */
export const CampaignIdAttr = defineSearchAttributeKey('CampaignId', SearchAttributeType.KEYWORD);
export const CampaignTypeAttr = defineSearchAttributeKey('CampaignType', SearchAttributeType.KEYWORD);
export const CampaignStatusAttr = defineSearchAttributeKey('CampaignStatus', SearchAttributeType.KEYWORD);
/** The report period of a financial campaign, `YYYY-MM`. */
export const CampaignMonthAttr = defineSearchAttributeKey('CampaignMonth', SearchAttributeType.KEYWORD);

export const CAMPAIGN_SEARCH_ATTRIBUTES = [CampaignIdAttr, CampaignTypeAttr, CampaignStatusAttr, CampaignMonthAttr] as const;
