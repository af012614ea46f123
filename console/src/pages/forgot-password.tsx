import { Page } from '../ui';

export default function Screen() {
  return <Page title="forgot-password"><p>Not built yet.</p></Page>;
}
