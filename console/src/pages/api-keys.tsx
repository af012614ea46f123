import { Page } from '../ui';

export default function Screen() {
  return <Page title="api-keys"><p>Not built yet.</p></Page>;
}
