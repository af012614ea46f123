import { Page } from '../ui';

export default function Screen() {
  return <Page title="reset-password"><p>Not built yet.</p></Page>;
}
