// A Crosswire container component: the default export receives an AutobahnJS session (the same
// API as any AutobahnJS client), the WELCOME details and the component's `extra` from the config.
// It is called again with a fresh session after every reconnect, so it (re)registers here.
export default async function (session, details, extra) {
  await session.register('com.example.add2', (args) => args[0] + args[1]);
  await session.subscribe('com.example.hello', (args) => {
    console.log(`${extra.greeting}, ${args[0]}`);
  });
  console.log(`add2 joined ${details.realm} as session ${session.id}`);
}
