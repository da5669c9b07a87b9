/**
 * One load per key while it is in flight: a caller asking for a key whose load is pending waits
 * for that load instead of starting another (and `onJoin` counts it). Nothing is kept once a load
 * settles, its value or its failure: a failed load is not remembered, so the next caller tries
 * again, and whatever caching there is stays with the caller's cache.
 */
export class SingleFlight<V> {
  private readonly pending = new Map<string, Promise<V>>();

  constructor(private readonly onJoin?: () => void) {}

  run(key: string, load: () => Promise<V>): Promise<V> {
    const inFlight = this.pending.get(key);
    if (inFlight) {
      this.onJoin?.();
      return inFlight;
    }
    // Started on the next tick, so a load that throws at once fails the flight, not this call.
    const flight: Promise<V> = Promise.resolve()
      .then(load)
      .finally(() => {
        if (this.pending.get(key) === flight) this.pending.delete(key);
      });
    this.pending.set(key, flight);
    return flight;
  }
}
