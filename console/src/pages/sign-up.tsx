import { Page } from '../ui';

export default function Screen() {
  return <Page title="sign-up"><p>Not built yet.</p></Page>;
}
