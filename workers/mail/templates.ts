/**
 * Every e-mail authledger sends, text and HTML, in one place. Change wording here.
 * Rules: no template puts a secret anywhere but the link it exists to deliver; every value that
 * came from a user (name, device, user agent, key name) is HTML-escaped; links carry tokens in
 * the URL fragment (`#token=`), which browsers never send to servers, so tokens stay out of
 * access logs and Referer headers.
 */
export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

export interface MailContext {
  /** Public base URL (no trailing slash). */
  baseUrl: string;
  name?: string;
}

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function layout(title: string, bodyHtml: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body style="font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:560px;margin:24px auto;color:#222">
<h2 style="font-size:20px">${esc(title)}</h2>
${bodyHtml}
<p style="color:#777;font-size:12px;margin-top:32px">authledger — you receive this because of activity on your account.</p>
</body></html>`;
}

const button = (href: string, label: string) =>
  `<p><a href="${esc(href)}" style="display:inline-block;padding:10px 18px;background:#2457d6;color:#fff;text-decoration:none;border-radius:6px">${esc(label)}</a></p>
<p style="font-size:13px;color:#555">Or open this link: <br><a href="${esc(href)}">${esc(href)}</a></p>`;

const hello = (name?: string) => (name ? `Hello ${name},` : 'Hello,');
const minutesUntil = (iso: string, now = Date.now()) => Math.max(1, Math.round((Date.parse(iso) - now) / 60_000));
const validity = (iso: string) => {
  const m = minutesUntil(iso);
  return m >= 120 ? `${Math.round(m / 60)} hours` : `${m} minutes`;
};

export const verifyLink = (baseUrl: string, token: string) => `${baseUrl}/api/v1/auth/verify-email#token=${token}`;
export const resetLink = (baseUrl: string, token: string) => `${baseUrl}/api/v1/auth/password-reset#token=${token}`;
export const emailChangeConfirmLink = (baseUrl: string, token: string) => `${baseUrl}/api/v1/auth/email-change/confirm#token=${token}`;
export const emailChangeCancelLink = (baseUrl: string, token: string) => `${baseUrl}/api/v1/auth/email-change/cancel#token=${token}`;

export const templates = {
  verification(ctx: MailContext, p: { token: string; expiresAt: string }): RenderedMail {
    const link = verifyLink(ctx.baseUrl, p.token);
    const subject = 'Confirm your e-mail address';
    return {
      subject,
      text: `${hello(ctx.name)}\n\nPlease confirm your e-mail address by opening this link (valid for ${validity(p.expiresAt)}):\n\n${link}\n\nIf you did not sign up, ignore this message.\n`,
      html: layout(subject, `<p>${esc(hello(ctx.name))}</p><p>Please confirm your e-mail address (the link is valid for ${validity(p.expiresAt)}).</p>${button(link, 'Confirm e-mail')}<p>If you did not sign up, ignore this message.</p>`),
    };
  },

  passwordReset(ctx: MailContext, p: { token: string; expiresAt: string }): RenderedMail {
    const link = resetLink(ctx.baseUrl, p.token);
    const subject = 'Reset your password';
    return {
      subject,
      text: `${hello(ctx.name)}\n\nSomeone (hopefully you) asked to reset your password. Open this link within ${validity(p.expiresAt)} to choose a new one:\n\n${link}\n\nThe link works once. Resetting signs you out everywhere. If it was not you, ignore this message: your password stays as it is.\n`,
      html: layout(subject, `<p>${esc(hello(ctx.name))}</p><p>Someone (hopefully you) asked to reset your password. The link works once, within ${validity(p.expiresAt)}; resetting signs you out everywhere.</p>${button(link, 'Choose a new password')}<p>If it was not you, ignore this message: your password stays as it is.</p>`),
    };
  },

  newDevice(ctx: MailContext, p: { when: string; ip?: string; userAgent?: string; deviceName?: string }): RenderedMail {
    const subject = 'New sign-in to your account';
    const lines = [`Time: ${p.when}`, `Device: ${p.deviceName ?? 'unnamed'}`, `Browser/app: ${p.userAgent ?? 'unknown'}`, `IP address: ${p.ip ?? 'unknown'}`];
    return {
      subject,
      text: `${hello(ctx.name)}\n\nYour account was just signed in to from a device we have not seen before:\n\n${lines.join('\n')}\n\nIf this was you, nothing to do. If not, reset your password and sign out all sessions.\n`,
      html: layout(subject, `<p>${esc(hello(ctx.name))}</p><p>Your account was just signed in to from a device we have not seen before:</p><ul>${lines.map((l) => `<li>${esc(l)}</li>`).join('')}</ul><p>If this was you, nothing to do. If not, reset your password and sign out all sessions.</p>`),
    };
  },

  apiKeyCreated(ctx: MailContext, p: { when: string; keyName?: string; keyPrefix?: string; ip?: string }): RenderedMail {
    const subject = 'A new API key was created';
    const lines = [`Name: ${p.keyName ?? ''}`, `Key prefix: ${p.keyPrefix ?? ''}`, `Time: ${p.when}`, `IP address: ${p.ip ?? 'unknown'}`];
    return {
      subject,
      text: `${hello(ctx.name)}\n\nA new API key was created on your account:\n\n${lines.join('\n')}\n\nIf you did not create it, revoke it and change your password.\n`,
      html: layout(subject, `<p>${esc(hello(ctx.name))}</p><p>A new API key was created on your account:</p><ul>${lines.map((l) => `<li>${esc(l)}</li>`).join('')}</ul><p>If you did not create it, revoke it and change your password.</p>`),
    };
  },

  refreshReuse(ctx: MailContext, p: { when: string; ip?: string; userAgent?: string }): RenderedMail {
    const subject = 'Security alert: a session of yours was signed out';
    const lines = [`Time: ${p.when}`, `IP address: ${p.ip ?? 'unknown'}`, `Browser/app: ${p.userAgent ?? 'unknown'}`];
    return {
      subject,
      text: `${hello(ctx.name)}\n\nAn old sign-in token of one of your sessions was used again, which may mean it was stolen. We signed that session out.\n\n${lines.join('\n')}\n\nSign in again on that device. If you see this often, change your password.\n`,
      html: layout(subject, `<p>${esc(hello(ctx.name))}</p><p>An old sign-in token of one of your sessions was used again, which may mean it was stolen. We signed that session out.</p><ul>${lines.map((l) => `<li>${esc(l)}</li>`).join('')}</ul><p>Sign in again on that device. If you see this often, change your password.</p>`),
    };
  },

  /** Issue 17: a second factor added or removed, all reset by an admin, or a recovery code used. */
  mfaChanged(
    ctx: MailContext,
    p: { when: string; change: 'added' | 'removed' | 'reset' | 'recovery-used'; factorKind?: string; factorName?: string; remaining?: number; ip?: string },
  ): RenderedMail {
    const kind = p.factorKind ?? 'second factor';
    const a = /^[aeiou]/i.test(kind) ? 'An' : 'A';
    const named = p.factorName ? ` "${p.factorName}"` : '';
    const texts: Record<typeof p.change, [string, string]> = {
      added: [`${a} ${kind} was added to your account`, `${a} ${kind}${named} was added to your account as a second factor.`],
      removed: [`${a} ${kind} was removed from your account`, `${a} ${kind} was removed from your account's second factors.`],
      reset: ['Your second factors were reset', 'An administrator removed every second factor of your account. You sign in with your password alone until you enrol one again.'],
      'recovery-used': ['A recovery code was used', `A recovery code of your account was used to sign in.${p.remaining !== undefined ? ` ${p.remaining} unused codes remain.` : ''}`],
    };
    const [subject, what] = texts[p.change];
    const lines = [`Time: ${p.when}`, `IP address: ${p.ip ?? 'unknown'}`];
    const advice = 'If this was not you, change your password now and review your second factors.';
    return {
      subject,
      text: `${hello(ctx.name)}\n\n${what}\n\n${lines.join('\n')}\n\n${advice}\n`,
      html: layout(subject, `<p>${esc(hello(ctx.name))}</p><p>${esc(what)}</p><ul>${lines.map((l) => `<li>${esc(l)}</li>`).join('')}</ul><p>${esc(advice)}</p>`),
    };
  },

  passwordChanged(ctx: MailContext, p: { when: string; viaReset?: boolean; ip?: string }): RenderedMail {
    const subject = 'Your password was changed';
    const how = p.viaReset ? 'reset with an e-mailed link' : 'changed';
    return {
      subject,
      text: `${hello(ctx.name)}\n\nYour password was ${how} at ${p.when} (IP address ${p.ip ?? 'unknown'}). Other sessions were signed out.\n\nIf this was not you, reset your password now and contact support.\n`,
      html: layout(subject, `<p>${esc(hello(ctx.name))}</p><p>Your password was ${esc(how)} at ${esc(p.when)} (IP address ${esc(p.ip ?? 'unknown')}). Other sessions were signed out.</p><p>If this was not you, reset your password now and contact support.</p>`),
    };
  },

  emailChangeConfirm(ctx: MailContext, p: { token: string; expiresAt: string }): RenderedMail {
    const link = emailChangeConfirmLink(ctx.baseUrl, p.token);
    const subject = 'Confirm your new e-mail address';
    return {
      subject,
      text: `${hello(ctx.name)}\n\nYou asked to use this address for your account. Open this link within ${validity(p.expiresAt)} to confirm; until then your account keeps its old address:\n\n${link}\n\nIf you did not ask for this, ignore this message.\n`,
      html: layout(subject, `<p>${esc(hello(ctx.name))}</p><p>You asked to use this address for your account. Confirm within ${validity(p.expiresAt)}; until then your account keeps its old address.</p>${button(link, 'Confirm new address')}<p>If you did not ask for this, ignore this message.</p>`),
    };
  },

  emailChangeNotice(ctx: MailContext, p: { token: string; newEmail: string; when: string; ip?: string; cancelUntil: string }): RenderedMail {
    const link = emailChangeCancelLink(ctx.baseUrl, p.token);
    const subject = 'Your e-mail address is being changed';
    const lines = [`New address: ${p.newEmail}`, `Time: ${p.when}`, `IP address: ${p.ip ?? 'unknown'}`];
    return {
      subject,
      text: `${hello(ctx.name)}\n\nSomeone signed in to your account asked to move it to another e-mail address:\n\n${lines.join('\n')}\n\nIf this was you, nothing to do. If not, open this link (valid for ${validity(p.cancelUntil)}, even after the change was confirmed): it cancels the change, or puts your address back, and signs out every session.\n\n${link}\n\nThen reset your password.\n`,
      html: layout(subject, `<p>${esc(hello(ctx.name))}</p><p>Someone signed in to your account asked to move it to another e-mail address:</p><ul>${lines.map((l) => `<li>${esc(l)}</li>`).join('')}</ul><p>If this was you, nothing to do. If not, this link (valid for ${validity(p.cancelUntil)}, even after the change was confirmed) cancels the change, or puts your address back, and signs out every session.</p>${button(link, 'Cancel the change and sign out everywhere')}<p>Then reset your password.</p>`),
    };
  },

  emailChanged(ctx: MailContext, p: { when: string; newEmail: string; byAdmin?: boolean; toNew?: boolean }): RenderedMail {
    const subject = 'Your e-mail address was changed';
    const who = p.byAdmin ? 'by an administrator' : 'after the new address confirmed it';
    const what = p.toNew ? 'This is now your account’s e-mail address' : `Your account’s e-mail address is now ${p.newEmail}`;
    const tail = p.toNew ? 'If you do not know this account, contact support.' : (p.byAdmin ? 'If you did not expect this, contact support.' : 'If this was not you, use the cancel link of the earlier message about this change.');
    return {
      subject,
      text: `${hello(ctx.name)}\n\n${what} (changed ${who} at ${p.when}).\n\n${tail}\n`,
      html: layout(subject, `<p>${esc(hello(ctx.name))}</p><p>${esc(what)} (changed ${esc(who)} at ${esc(p.when)}).</p><p>${esc(tail)}</p>`),
    };
  },
};
