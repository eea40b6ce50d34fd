// Entry point: CSP nonce for style elements, the pages, the shell.
import { render } from 'preact';
import { App } from './app';
import { stampStyleNonces } from './csp';
import './pages/index';
import './styles.css';

stampStyleNonces();
render(<App />, document.getElementById('app')!);
