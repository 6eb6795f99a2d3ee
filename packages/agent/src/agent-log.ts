/** Writes one structured log line about one event; injectable so tests stay quiet. */
export type AgentLog = (event: Record<string, unknown>) => void;

/** The agent's log: one JSON object per line on stdout, which the runtime collects. */
export const logJson: AgentLog = (event) => {
  console.log(JSON.stringify(event));
};
