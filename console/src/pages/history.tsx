import { Page } from '../ui';

export default function Screen() {
  return <Page title="history"><p>Not built yet.</p></Page>;
}
