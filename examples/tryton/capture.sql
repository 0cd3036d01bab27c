-- Run once in Tryton's database before deploying tryton-source (the isthmus user owns Tryton's tables):
--   psql "host=127.0.0.1 port=15432 dbname=tryton user=isthmus" -f examples/tryton/capture.sql
-- A party's delete must carry its code (the customer number), not only its id: the identity link is keyed
-- by it (flows/README.md, "## entity": link sources need full before-images).
ALTER TABLE public.party_party REPLICA IDENTITY FULL;
-- A contact mechanism's delete must still say its party and type: the e-mail or phone it took away.
ALTER TABLE public.party_contact_mechanism REPLICA IDENTITY FULL;
