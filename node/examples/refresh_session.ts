/**
 * @file node/examples/refresh_session.ts
 * @brief Keeps a logged-in user's tokens fresh: a TokenSession over a token file refreshes the access token
 * shortly before it expires (one refresh however many callers ask at once) and saves the rotated tokens.
 *
 *   COTTER_API_KEY_ID=... COTTER_API_SECRET_KEY=... COTTER_BASE_URL=... node refresh_session.js ./tokens.json
 *
 * The token file holds Cotter's `oauth_token` JSON (mode 0600), e.g. as saved by the cotter CLI after a login.
 */
import { Client, CotterError, TokenSession } from 'cotter-native';

async function main(file: string): Promise<void> {
  const client = new Client({
    apiKeyId: process.env.COTTER_API_KEY_ID ?? '',
    apiSecretKey: process.env.COTTER_API_SECRET_KEY,
    baseUrl: process.env.COTTER_BASE_URL,
  });
  const session = new TokenSession(client, {
    file,
    marginSeconds: 60,
    onTokensChanged: () => console.log('tokens refreshed and saved'),
  });
  try {
    // Ten concurrent callers share one refresh when the token is about to expire.
    const tokens = await Promise.all(Array.from({ length: 10 }, () => session.getAccessToken()));
    console.log('access token valid; callers agree:', new Set(tokens).size === 1);
    // Force one, e.g. after custom claims changed; give up waiting after 10 s (an AbortSignal cancels any call).
    await session.refresh({ signal: AbortSignal.timeout(10_000) });
    console.log('refreshed explicitly');
  } catch (err) {
    if (err instanceof CotterError && err.name === 'AbortError') {
      console.error('Cotter did not answer within 10 s');
      process.exitCode = 3;
      return;
    }
    if (err instanceof CotterError && err.code === 'COTTER_EREAUTH') {
      console.error('the refresh token is no longer valid: log in again');
      process.exitCode = 2;
      return;
    }
    throw err;
  } finally {
    client.close();
  }
}

main(process.argv[2] ?? 'tokens.json').catch((err: unknown) => {
  console.error(err instanceof CotterError ? `${err.code}: ${err.message}` : err);
  process.exitCode = 1;
});
