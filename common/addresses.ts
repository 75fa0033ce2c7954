/**
 * The syntax check an address must pass before it goes to Mailgun, which refuses
 * a whole request when one `to` address is malformed. This is RFC 5322's
 * addr-spec (dot-atom or quoted local part, dot-atom domain with at least two
 * labels); Mailgun checks more (say, DNS hostname rules), and what only Mailgun
 * catches is found by splitting the refused batch.
 */

const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const DOT_ATOM = new RegExp(`^${ATEXT}(?:\\.${ATEXT})*$`);
const QUOTED = /^"(?:[^"\\\r\n]|\\.)*"$/;

export type AddressProblem = 'empty' | 'too long' | 'no @' | 'bad local part' | 'bad domain';

/** undefined when `address` is a syntactically valid mailbox; otherwise what is wrong with it. */
export function addressProblem(address: string): AddressProblem | undefined {
  if (address.length === 0) return 'empty';
  if (address.length > 254) return 'too long';
  const at = address.lastIndexOf('@');
  if (at < 0) return 'no @';
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length === 0 || local.length > 64 || !(DOT_ATOM.test(local) || QUOTED.test(local))) return 'bad local part';
  if (domain.length > 253 || !DOT_ATOM.test(domain) || !domain.includes('.')) return 'bad domain';
  return undefined;
}
