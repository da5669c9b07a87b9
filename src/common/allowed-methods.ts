import { METHODS } from 'node:http';

/** Express's router as far as this reads it: its route layers and what each matches. */
export interface RouterLike {
  stack?: Array<{ route?: { methods: Record<string, boolean> }; handle?: RouterLike; match(path: string): unknown }>;
}

const ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/**
 * The methods the app's routes take at a path, read from Express's router when asked (the routes
 * exist by then): a GET route takes HEAD as well, and every path that has a route takes OPTIONS.
 * Empty for a path no route has. Routes that take every method are middleware mounts (Nest
 * registers its middleware so), not routes. Used on the not-found path only, never for a served request.
 */
export function allowedMethods(router: RouterLike | undefined): (path: string) => string[] {
  return (path) => {
    const methods = new Set<string>();
    // Nest mounts the controllers' routes as a router of their own, at the root.
    const layers = [...(router?.stack ?? [])];
    for (let layer = layers.shift(); layer; layer = layers.shift()) {
      if (!layer.route) {
        if (Array.isArray(layer.handle?.stack)) layers.push(...layer.handle.stack);
        continue;
      }
      if (takesEveryMethod(layer.route.methods) || !layer.match(path)) continue;
      for (const [method, takes] of Object.entries(layer.route.methods)) if (takes && method !== '_all') methods.add(method.toUpperCase());
    }
    if (methods.size === 0) return [];
    if (methods.has('GET')) methods.add('HEAD');
    methods.add('OPTIONS');
    return [...methods].sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b));
  };
}

function takesEveryMethod(methods: Record<string, boolean>): boolean {
  return methods._all === true || METHODS.every((method) => methods[method.toLowerCase()]);
}
