/** The request target without its query: a presigned URL's query carries its signature and credential, so logs take only this. */
export function pathOf(url: string | undefined): string {
  const target = url ?? '/';
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}
