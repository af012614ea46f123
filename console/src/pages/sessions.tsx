import { Page } from '../ui';

export default function Screen() {
  return <Page title="sessions"><p>Not built yet.</p></Page>;
}
