// The overview (종합 현황): the services and the agent boards in turn. app.js
// flips state.shown between "services" and "agents" every `rotate` seconds
// (and titles the page after the one shown); this shows that one.
import services from "./services.js";
import agents from "./agents.js";

let root = null;
let shown = null;

export default {
  id: "overview",
  mount(el) { root = el; },
  update(snap, ctx) {
    const view = ctx.state.shown === "services" ? services : agents;
    if (shown !== view) {
      if (shown) shown.unmount();
      shown = view;
      view.mount(root, ctx);
    }
    view.update(snap, ctx);
  },
  unmount() {
    if (shown) shown.unmount();
    shown = null;
    root = null;
  },
};
