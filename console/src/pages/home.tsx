/** The start page after sign-in: who I am and where to go. */
import { to } from '../routes';
import { useSession } from '../session';
import { Page } from '../ui';

export default function Home() {
  const { user } = useSession();
  if (!user) return null;
  return (
    <Page title={`Hello, ${user.name || user.email}`}>
      {!user.email_verified && <p class="notice warn" role="status">Your e-mail address is not confirmed yet. <a href={to('/account')}>Confirm it from your account page</a>.</p>}
      <ul class="cards">
        <li><a href={to('/history')}><strong>My history</strong><span>Everything that happened to your account, on a timeline, and your state at any moment.</span></a></li>
        <li><a href={to('/sessions')}><strong>Sessions</strong><span>The devices signed in as you; end the ones you do not recognise.</span></a></li>
        <li><a href={to('/api-keys')}><strong>API keys</strong><span>Keys for your programs, their use today, and revocation.</span></a></li>
        <li><a href={to('/features')}><strong>Features</strong><span>What exists, and what a key may reach.</span></a></li>
        <li><a href={to('/account')}><strong>Account</strong><span>Profile, e-mail, password and linked sign-ins.</span></a></li>
      </ul>
    </Page>
  );
}
