export { campaignSend } from './campaign-send.js';
