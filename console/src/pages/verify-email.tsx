import { Page } from '../ui';

export default function Screen() {
  return <Page title="verify-email"><p>Not built yet.</p></Page>;
}
