'use strict';
/**
 * @file login_page.js
 * @brief HTML of the hosted login page (spec §2.9): plain forms with stable ids, inline CSS,
 *        no scripts and no external assets, so it works in a browser and with plain HTTP.
 */

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

const CSS = `
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;
 font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f4f8;color:#1d2030}
main{background:#fff;width:100%;max-width:380px;padding:32px 28px;border-radius:14px;box-shadow:0 6px 30px rgba(20,24,60,.10)}
h1{font-size:22px;margin:0 0 6px}
p{margin:0 0 18px;color:#5a5f75}
label{display:block;font-size:14px;font-weight:600;margin-bottom:6px}
input[type=email],input[type=tel],input[type=text]{width:100%;padding:11px 12px;font-size:16px;border:1px solid #c9cbd8;border-radius:8px}
input:focus{outline:2px solid #4c5cf5;border-color:transparent}
.row{display:flex;gap:10px;margin-top:18px}
button{flex:1;padding:11px 12px;font-size:15px;font-weight:600;border-radius:8px;border:0;cursor:pointer}
#submit{background:#4c5cf5;color:#fff}
#cancel{background:#eceef5;color:#333}
.error{background:#fdecec;color:#a11;padding:10px 12px;border-radius:8px;margin-bottom:14px;font-size:14px}
.note{font-size:13px;color:#777;margin-top:18px}
code{background:#f0f1f6;padding:1px 4px;border-radius:4px}
.brand{font-size:13px;letter-spacing:.08em;text-transform:uppercase;color:#4c5cf5;font-weight:700;margin-bottom:14px}`;

function layout(title, inner) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body><main id="cotter-login"><div class="brand">Cotter emulator</div>${inner}</main></body></html>`;
}

const errorBox = (msg) => (msg ? `<div class="error" id="error" role="alert">${esc(msg)}</div>` : '');

/** The login parameters carried through the first form as hidden inputs. */
const PARAM_FIELDS = ['api_key', 'redirect_url', 'type', 'state', 'code_challenge', 'auth_method', 'cotter_user_id'];

function identifierPage(params, errorMsg) {
  const phone = params.type === 'PHONE';
  const hidden = PARAM_FIELDS.filter((f) => params[f] !== undefined && params[f] !== null)
    .map((f) => `<input type="hidden" name="${f}" value="${esc(params[f])}">`).join('');
  const what = params.auth_method === 'MAGIC_LINK' ? 'a login link' : 'a verification code';
  return layout('Sign in', `
<h1>Sign in</h1>
<p>Enter your ${phone ? 'phone number' : 'email'} and we will send you ${what}.</p>
${errorBox(errorMsg)}
<form id="identifier-form" method="POST" action="/app/identifier">
${hidden}
<label for="identifier">${phone ? 'Phone number' : 'Email'}</label>
<input id="identifier" name="identifier" type="${phone ? 'tel' : 'email'}" required autofocus
 autocomplete="${phone ? 'tel' : 'email'}" placeholder="${phone ? '+12345678901' : 'you@example.com'}" value="${esc(params.input)}">
<div class="row"><button id="cancel" type="submit" name="action" value="cancel" formnovalidate>Cancel</button>
<button id="submit" type="submit" name="action" value="continue">Continue</button></div>
</form>`);
}

function otpPage(session, errorMsg) {
  return layout('Enter your code', `
<h1>Enter your code</h1>
<p>We sent a 6-digit code to <strong id="sent-to">${esc(session.identifier)}</strong>.</p>
${errorBox(errorMsg)}
<form id="otp-form" method="POST" action="/app/otp">
<input type="hidden" name="sid" value="${esc(session.sid)}">
<label for="otp">Verification code</label>
<input id="otp" name="otp" type="text" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" required autofocus autocomplete="one-time-code">
<div class="row"><button id="cancel" type="submit" name="action" value="cancel" formnovalidate>Cancel</button>
<button id="submit" type="submit" name="action" value="verify">Verify</button></div>
</form>
<p class="note">Emulator: messages are delivered to the dev mailbox,
<code>GET /dev/mailbox?to=${esc(encodeURIComponent(session.identifier))}</code>.</p>`);
}

function magicLinkPage(session, errorMsg) {
  return layout('Check your inbox', `
<h1>Check your ${session.type === 'PHONE' ? 'messages' : 'inbox'}</h1>
<p>We sent a login link to <strong id="sent-to">${esc(session.identifier)}</strong>. Open it to finish signing in.</p>
${errorBox(errorMsg)}
<form id="otp-form" method="POST" action="/app/otp">
<input type="hidden" name="sid" value="${esc(session.sid)}">
<div class="row"><button id="cancel" type="submit" name="action" value="cancel" formnovalidate>Cancel</button></div>
</form>
<p class="note">Emulator: messages are delivered to the dev mailbox,
<code>GET /dev/mailbox?to=${esc(encodeURIComponent(session.identifier))}</code>.</p>`);
}

function errorPage(title, msg) {
  return layout(title, `<h1>${esc(title)}</h1>${errorBox(msg)}`);
}

function indexPage(info) {
  return layout('Cotter emulator', `<h1>Cotter emulator</h1>
<p>A Cotter-compatible local server. API base: <code>${esc(info.base_url)}</code></p>
<p>Login page: <code>/app?api_key=…&amp;redirect_url=…&amp;type=EMAIL&amp;state=…&amp;code_challenge=…</code></p>
<p>Dev API: <code>${esc(info.dev_url)}</code></p>`);
}

module.exports = { identifierPage, otpPage, magicLinkPage, errorPage, indexPage, PARAM_FIELDS, esc };
