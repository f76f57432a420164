// A NATS echo responder in its own process, for the round-trip micro benchmark: the far end of a bare
// request/reply, as an expert actor is a process of its own. Usage (forked): echo.js URL SUBJECT
import { connectNats } from '../../runtime/transport/connection.js';

const [url, subject] = process.argv.slice(2);
const nc = await connectNats(url, 'eaas-bench-echo');
nc.subscribe(subject, { callback: (err, msg) => !err && msg.respond(msg.data) });
await nc.flush();
process.send?.('ready');
process.on('disconnect', () => void nc.close().finally(() => process.exit(0)));
