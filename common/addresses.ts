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

/** A sender or recipient as written in a header: `addr`, `Display Name <addr>` or `"Quoted, Name" <addr>`. */
export interface Mailbox {
  address: string;
  displayName?: string;
}

/** Characters RFC 5322 allows in a display name only inside quotes. */
const UNQUOTED_SPECIALS = /["<>()[\]:;@\\,]/;
const EXPECTED = 'must be addr@domain or Display Name <addr@domain>';

/** The mailbox `value` names, or what is wrong with it. CR and LF are refused anywhere: they would start a new header. */
export function parseMailbox(value: string): Mailbox | string {
  if (/[\r\n]/.test(value)) return 'must not contain a line break (CR or LF)';
  const mailbox = value.trim();
  const open = openingBracket(mailbox);
  if (open === undefined) {
    const problem = addressProblem(mailbox);
    return problem === undefined ? { address: mailbox } : `${EXPECTED}: not an address (${problem})`;
  }
  const address = mailbox.slice(open + 1, -1).trim();
  if (!mailbox.endsWith('>') || /[<>]/.test(address)) return `${EXPECTED}: misplaced angle brackets`;
  const problem = addressProblem(address);
  if (problem !== undefined) return `${EXPECTED}: the address in <…> is not valid (${problem})`;
  const display = mailbox.slice(0, open).trim();
  if (display === '') return { address };
  if (display.startsWith('"')) {
    if (!QUOTED.test(display)) return 'must not have text after a quoted display name';
    const name = display.slice(1, -1).replace(/\\(.)/g, '$1');
    return name === '' ? { address } : { address, displayName: name };
  }
  if (UNQUOTED_SPECIALS.test(display)) {
    return 'must quote a display name holding any of ( ) < > [ ] : ; @ \\ , ", e.g. "Distro Nation, Inc." <addr@domain>';
  }
  return { address, displayName: display };
}

/**
 * What is wrong with sending from `value` for a deployment that sends from `domains` (lower-case):
 * not a mailbox (parseMailbox's problem), or an address on another domain; undefined if nothing.
 */
export function senderProblem(value: string, domains: readonly string[]): string | undefined {
  const mailbox = parseMailbox(value);
  if (typeof mailbox === 'string') return mailbox;
  const domain = addressDomain(mailbox.address);
  return domains.includes(domain) ? undefined : `must be an address on a domain this deployment sends from (${domains.join(', ')}); got ${domain}`;
}

/** Where `<` opens the address: the first one outside a quoted display name; undefined when there is none. */
function openingBracket(mailbox: string): number | undefined {
  let quoted = false;
  for (let i = 0; i < mailbox.length; i++) {
    const c = mailbox[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '<') return i;
  }
  return undefined;
}

/** Whether an address is on one of `domains` or a subdomain of one (lower-cased domains). */
export function onDomains(address: string, domains: readonly string[]): boolean {
  const domain = addressDomain(address);
  return domains.some((allowed) => domain === allowed || domain.endsWith(`.${allowed}`));
}

/** The domain of an address (what follows its last @), lower-cased. */
export function addressDomain(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

const HOST_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/** A DNS host name of at least two labels (letters, digits, inner hyphens; 63 characters each, 253 in all). */
export function isDomainName(value: string): boolean {
  const labels = value.split('.');
  return value.length <= 253 && labels.length >= 2 && labels.every((label) => HOST_LABEL.test(label));
}
