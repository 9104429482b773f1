package pinger

// Examples copied byte for byte from the specs (docs/spec/echolot-pinger.md
// §7.1 and §7.2, whose capability block is cut after two lines, and
// docs/spec/mixmaster-type2.md §15.2 and §15.3). Tests do not read files.

const docMlist2 = `Stats-Version: 2.0
Generated: Tue 24 Nov 2026 13:58:02 GMT
Mixmaster    Latent-Hist   Latent  Uptime-Hist   Uptime  Options
------------------------------------------------------------------------
austria      000000000000    :05   ++++++++++++  100.0%  D M            
dizum        000000000000    :14   9+++9+++9+98   96.0%   PR GO ATLE IN0
slowpoke     A99889999988   8:15   ++9+9+99+9+9   95.8%    M            
frell        111111111111    :37   +9+++9789+99   91.2%    R GO ATLE IN9
hermes       332223322322   1:55   779777567769   72.5%    M           1
dead         ????????????  99:59   000000000000    0.0%    M            

Broken type-I remailer chains:


Broken type-II remailer chains:
(* dead)
(dead *)
(hermes frell)



Remailer-Capabilities:

$remailer{"austria"} = "<mixmaster@remailer.privacy.at> mix middle";
$remailer{"dizum"} = "<remailer@dizum.com> cpunk max mix pgp pgponly repgp remix latent hash cut test ekx inflt50 rhop5 reord post klen64";
`

const docMlist = `
Broken type-I remailer chains:


Broken type-II remailer chains:
(* dead)
(dead *)
(hermes frell)
Last update: Tue 24 Nov 2026 13:58:02 GMT
mixmaster           history  latency  uptime
--------------------------------------------
austria        *#**#***##**     5:06 100.00%
dizum          ************    14:17  96.03%
slowpoke       ------------  8:15:22  95.81%
frell          ************    37:39  91.18%
hermes         ++++++++++++  1:55:37  72.55%
dead                        99:59:59   0.00%
`

const specMlist = `Last update: Tue 24 Nov 2026 12:00:00 GMT
mixmaster           history  latency  uptime
--------------------------------------------
alpha          ************    12:34  99.97%
bravo          +**+++++****  1:02:03  98.50%
delta          --- ..  ++** 13:45:30  80.12%
`

const specMlist2 = `Stats-Version: 2.0
Generated: Tue 24 Nov 2026 12:00:00 GMT
Mixmaster    Latent-Hist   Latent  Uptime-Hist   Uptime  Options
------------------------------------------------------------------------
alpha        000000000000    :12   ++++++++++++  100.0%   PR         IN 
bravo        011000000000   1:02   ++++++++9+++   99.2%  D R         IN9

Broken type-II remailer chains:
(alpha bravo)



Remailer-Capabilities:

$remailer{"alpha"} = "<mix@alpha.example.net> mix remix inflt50 rhop5 post";
$remailer{"bravo"} = "<mix@bravo.example.net> mix middle remix inflt50 rhop5 reord klen1024";
`
