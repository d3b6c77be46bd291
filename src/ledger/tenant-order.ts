// Tenants are listed (snapshot) and visited (round-robin dispatch) in plain code-unit order:
// deterministic, locale-independent and stable as tenants come and go, unlike localeCompare.
/** Compares two tenant names (or group keys) by UTF-16 code units. */
export function compareTenantNames(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}
