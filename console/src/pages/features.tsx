import { Page } from '../ui';

export default function Screen() {
  return <Page title="features"><p>Not built yet.</p></Page>;
}
