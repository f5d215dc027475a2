/** An SSE body (as a whole string) as events: { id, event, data } with data parsed as JSON. */
export interface ParsedEvent {
  id?: string;
  event: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- events differ by type; tests read fields they know
  data: any;
}

export function parseSse(body: string): ParsedEvent[] {
  return body
    .split('\n\n')
    .filter((frame) => frame.trim())
    .map((frame) => {
      const event: ParsedEvent = { event: 'message', data: undefined };
      const data: string[] = [];
      for (const line of frame.split('\n')) {
        const [field, ...rest] = line.split(': ');
        const value = rest.join(': ');
        if (field === 'id') event.id = value;
        else if (field === 'event') event.event = value;
        else if (field === 'data') data.push(value);
      }
      event.data = JSON.parse(data.join('\n'));
      return event;
    });
}

/** The text of the token events, joined. */
export const textOf = (events: ParsedEvent[]) =>
  events
    .filter((e) => e.event === 'token')
    .map((e) => e.data.text as string)
    .join('');
