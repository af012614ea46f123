/**
 * The two small pages the e-mail change links open (issue 20 §2). They read the token from the URL
 * fragment (never sent to the server, so never in access logs) and POST it to the JSON commands;
 * a GET never spends a token, so mail scanners that prefetch links do no harm. Self-contained (no
 * console build needed): a user who lost the account must still be able to cancel.
 */
const page = (title: string, body: string, script: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${title} — authledger</title>
<style>body{font-family:system-ui,sans-serif;max-width:420px;margin:48px auto;padding:0 16px;color:#222}
input,button{font:inherit;padding:8px;width:100%;box-sizing:border-box;margin:6px 0}button{background:#2457d6;color:#fff;border:0;border-radius:6px}
#msg{margin-top:12px}</style></head>
<body><h1 style="font-size:22px">${title}</h1>${body}<p id="msg" role="status"></p>
<script>
const token = new URLSearchParams(location.hash.slice(1)).get('token') || '';
history.replaceState(null, '', location.pathname);
const msg = (t) => { document.getElementById('msg').textContent = t; };
async function post(path, body) {
  const r = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const j = await r.json().catch(() => ({}));
  return { ok: r.ok, body: j };
}
${script}
</script></body></html>`;

export const emailChangeConfirmPage = () =>
  page(
    'Confirm your new e-mail address',
    '<button id="go">Use this address for my account</button>',
    `document.getElementById('go').onclick = async () => {
  if (!token) return msg('This link is incomplete. Open the link from the mail again.');
  const r = await post('/api/v1/auth/email-change/confirm', { token });
  msg(r.ok ? 'Done: your account now uses this e-mail address.' : (r.body.detail || 'The link is invalid or expired.'));
};`,
  );

export const emailChangeCancelPage = () =>
  page(
    'Cancel the e-mail change',
    '<p>This keeps (or puts back) your old address and signs out every session of your account.</p><button id="go">Cancel the change and sign out everywhere</button>',
    `document.getElementById('go').onclick = async () => {
  if (!token) return msg('This link is incomplete. Open the link from the mail again.');
  const r = await post('/api/v1/auth/email-change/cancel', { token });
  msg(r.ok ? 'The change is cancelled and every session was signed out. Consider resetting your password.' : (r.body.detail || 'The link is invalid or expired.'));
};`,
  );
