import type { FC, PropsWithChildren } from 'hono/jsx';
import type { Stream } from '../../common/streams.js';

/**
 * The page an unsubscribe link opens: the person's streams with their state, a button per stream
 * and "unsubscribe from all". Plain forms (no JavaScript), one column that fits a phone, and
 * nothing of anyone else: the token names one person, and the page shows only their streams.
 */

export interface StreamState {
  stream: Stream;
  subscribed: boolean;
}

const LABELS: Record<Stream, { name: string; about: string }> = {
  financial: { name: 'Royalty statements', about: 'Your monthly statement and report download links.' },
  newsletter: { name: 'Newsletter', about: 'News, releases and tips from Distro Nation.' },
  outreach: { name: 'Offers and invitations', about: 'Occasional offers and invitations for artists.' },
};

const STYLE = `
  body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; background: #f5f5f7; color: #1d1d1f; }
  main { max-width: 34rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
  h1 { font-size: 1.5rem; margin: 0.5rem 0 1rem; }
  .notice { background: #e8f5e9; border: 1px solid #a5d6a7; border-radius: 8px; padding: 0.75rem 1rem; margin-bottom: 1rem; }
  .notice.error { background: #fdecea; border-color: #f5c2c0; }
  ul { list-style: none; padding: 0; margin: 0 0 1.5rem; }
  li { background: #fff; border-radius: 10px; padding: 1rem; margin-bottom: 0.75rem; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  li h2 { font-size: 1.05rem; margin: 0 0 0.25rem; }
  li p { margin: 0 0 0.75rem; color: #555; font-size: 0.95rem; }
  .state { font-weight: 600; }
  button { font: inherit; padding: 0.6rem 1rem; border-radius: 8px; border: 1px solid #888; background: #fff; cursor: pointer; min-height: 44px; }
  button.primary { background: #1d1d1f; color: #fff; border-color: #1d1d1f; }
  .all { margin-top: 1rem; }
`;

const Layout: FC<PropsWithChildren<{ title: string }>> = ({ title, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="robots" content="noindex" />
      <title>{title}</title>
      <style>{STYLE}</style>
    </head>
    <body>
      <main>{children}</main>
    </body>
  </html>
);

export interface PreferencesProps {
  /** Where the forms post: the link's own path. */
  action: string;
  /** The stream of the message the link came from, shown first. */
  from: Stream;
  streams: StreamState[];
  /** What the last submit did, shown as a confirmation. */
  confirmation?: string;
}

export const PreferencesPage: FC<PreferencesProps> = ({ action, from, streams, confirmation }) => {
  const ordered = [...streams].sort((a, b) => Number(b.stream === from) - Number(a.stream === from));
  return (
    <Layout title="Your email preferences — Distro Nation">
      <h1>Your email preferences</h1>
      {confirmation ? (
        <p class="notice" role="status">
          {confirmation}
        </p>
      ) : null}
      <ul>
        {ordered.map(({ stream, subscribed }) => (
          <li data-stream={stream}>
            <h2>{LABELS[stream].name}</h2>
            <p>{LABELS[stream].about}</p>
            <p>
              <span class="state">{subscribed ? 'You receive these.' : 'You do not receive these.'}</span>
            </p>
            <form method="post" action={action}>
              <input type="hidden" name="stream" value={stream} />
              {subscribed ? (
                <button type="submit" name="action" value="unsubscribe" class={stream === from ? 'primary' : undefined}>
                  Unsubscribe from {LABELS[stream].name.toLowerCase()}
                </button>
              ) : (
                <button type="submit" name="action" value="subscribe">
                  Subscribe to {LABELS[stream].name.toLowerCase()}
                </button>
              )}
            </form>
          </li>
        ))}
      </ul>
      {ordered.some((s) => s.subscribed) ? (
        <form method="post" action={action} class="all">
          <button type="submit" name="action" value="unsubscribe-all">
            Unsubscribe from all Distro Nation emails
          </button>
        </form>
      ) : null}
    </Layout>
  );
};

export const InvalidLinkPage: FC = () => (
  <Layout title="This link does not work — Distro Nation">
    <h1>This link does not work</h1>
    <p class="notice error" role="alert">
      The link is incomplete or was changed. Open it again from the email you received, or reply to that email and we will
      update your preferences for you.
    </p>
  </Layout>
);
