// Every page of the console, one file each (page.ts says how a page is made). The navigation
// shows a page when the server has the endpoint it `requires` and the caller may call it, so
// the pages of parts not on this server (config) stay hidden until they are.
import './overview';
import './apps';
import './app';
import './apply';
import './instances';
import './instance';
import './registry';
import './gateway';
import './logs';
import './security';
import './slots';
import './audit';
import './tokens';
