import { Page } from '../ui';

export default function Screen() {
  return <Page title="account"><p>Not built yet.</p></Page>;
}
