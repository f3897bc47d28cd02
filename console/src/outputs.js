// amplify_outputs.json (Amplify Gen2 client configuration, schema 1.3) for
// the storage resources of one environment, so a front end can call
// Amplify.configure(outputs) and use Amplify's storage library on them.
//
// Our permissions follow Amplify Gen1 (policy/doc.go, design.md §5); Gen2
// describes access per path prefix, per kind of user, with the actions
// get, list, write and delete. The mapping keeps to what our policies grant,
// nothing more:
//
//   element            actions
//   READ               get (s3:GetObject) + list (s3:ListBucket on the prefix)
//   CREATE_AND_UPDATE  write (s3:PutObject)
//   DELETE             delete (s3:DeleteObject)
//
//   path                      who             granted
//   public/*                  guest           guest elements
//   public/*                  authenticated   authenticated elements
//   protected/{entity_id}/*   entityidentity  authenticated elements (the owner, ${sub})
//   protected/{entity_id}/*   authenticated   get + list when authenticated READ (any user reads protected/)
//   protected/{entity_id}/*   guest           get + list when guest READ
//   private/{entity_id}/*     entityidentity  authenticated elements (the owner only)
//   uploads/*                 authenticated   write when authenticated CREATE_AND_UPDATE
//   uploads/*                 guest           write when guest CREATE_AND_UPDATE
//
// A kind of user with nothing on a path is left out, and so is a path
// nobody may use. Guests never get protected/ or private/ writes, as in
// the policies.

export const OUTPUTS_VERSION = "1.3";

const ACTIONS = [
  ["READ", ["get", "list"]],
  ["CREATE_AND_UPDATE", ["write"]],
  ["DELETE", ["delete"]],
];

function actions(set) {
  return ACTIONS.flatMap(([perm, acts]) => (set.has(perm) ? acts : []));
}

/** storagePaths maps BackendStoragePermissions to a Gen2 `paths` object. */
export function storagePaths(permissions) {
  const auth = new Set(permissions?.authenticated ?? []);
  const guest = new Set(permissions?.unAuthenticated ?? []);
  const paths = {};
  const add = (path, who, acts) => {
    if (acts.length === 0) return;
    (paths[path] ??= {})[who] = acts;
  };
  const readOnly = (set) => (set.has("READ") ? ["get", "list"] : []);
  const writeOnly = (set) => (set.has("CREATE_AND_UPDATE") ? ["write"] : []);

  add("public/*", "guest", actions(guest));
  add("public/*", "authenticated", actions(auth));
  add("protected/{entity_id}/*", "guest", readOnly(guest));
  add("protected/{entity_id}/*", "authenticated", readOnly(auth));
  add("protected/{entity_id}/*", "entityidentity", actions(auth));
  add("private/{entity_id}/*", "entityidentity", actions(auth));
  add("uploads/*", "guest", writeOnly(guest));
  add("uploads/*", "authenticated", writeOnly(auth));
  return paths;
}

/**
 * amplifyOutputs builds the file for resources
 * [{name, bucketName, region, permissions}]; the first one (by name) is the
 * default bucket, as Amplify needs one.
 */
export function amplifyOutputs(resources, fallbackRegion) {
  const sorted = [...resources].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const buckets = sorted.map((r) => ({
    name: r.name,
    bucket_name: r.bucketName,
    aws_region: r.region || fallbackRegion,
    paths: storagePaths(r.permissions),
  }));
  const storage = buckets.length
    ? { aws_region: buckets[0].aws_region, bucket_name: buckets[0].bucket_name, buckets }
    : { aws_region: fallbackRegion, bucket_name: "", buckets };
  return { version: OUTPUTS_VERSION, storage };
}
